import FractalVersion
print("fractal-agent \(fractalVersionLine)")

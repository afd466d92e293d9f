import FractalVersion
print("devicectl \(fractalVersionLine)")

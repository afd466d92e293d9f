import FractalAPI

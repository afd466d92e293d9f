// NOTE for whoever writes this target: it was first named CSystem, which clashes with
// swift-system's CSystem target; symbols use the prefix cfl_ (C Fractal Linux).
#ifndef CFRACTALLINUX_H
#define CFRACTALLINUX_H
#endif

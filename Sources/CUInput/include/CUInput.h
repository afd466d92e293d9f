#ifndef CUINPUT_H
#define CUINPUT_H
#endif

/* xtc — umbrella header. */
#ifndef XTC_H
#define XTC_H

#include "xtc/backend.h"
#include "xtc/config.h"
#include "xtc/generate.h"
#include "xtc/model.h"
#include "xtc/rope.h"
#include "xtc/safetensors.h"
#include "xtc/status.h"
#include "xtc/tensor.h"
#include "xtc/train.h"

#endif

#ifndef CEDGESPAWN_H
#define CEDGESPAWN_H

#include "edge_spawn.h"
#include "edge_sys.h"

#endif

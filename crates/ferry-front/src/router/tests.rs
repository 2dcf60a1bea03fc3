//! Routing: server names, location search, normalization.

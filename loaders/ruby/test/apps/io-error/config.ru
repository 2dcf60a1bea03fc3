# Fixture: an IOError while loading.
raise IOError, "ferry-io-boom"

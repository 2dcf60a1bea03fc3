# Fixture: a syntax error.
run ->(_env) { [200, {}, ["never"] }

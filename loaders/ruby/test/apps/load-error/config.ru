# Fixture: raises while loading.
def helper_that_fails
  raise "ferry-load-boom"
end
helper_that_fails
run ->(_env) { [200, {}, ["never"]] }

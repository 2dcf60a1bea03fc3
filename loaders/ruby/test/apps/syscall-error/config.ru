# Fixture: a SystemCallError while loading.
File.read("/nonexistent/ferry-test/file")
run ->(_env) { [200, {}, ["never"]] }

# Rack app for bench/pool.sh: every request sleeps 50 ms (as if waiting on a database), then
# answers 200 "ok\n". `sleep` releases Ruby's GVL, so a process with N threads serves N requests
# at once. Lowercase header names: valid in Rack 2 and Rack 3.
run ->(env) {
  sleep 0.05
  [200, {"content-type" => "text/plain", "content-length" => "3"}, ["ok\n"]]
}

# A Rack app that takes about a second to boot, for bench/parallel-spawn.sh.
# BOOT=io sleeps (an app waiting on a database or a network service while it boots);
# BOOT=cpu computes (an app loading and compiling a lot of code). Each request takes 0.5 s and
# answers the process id.
case ENV.fetch("BOOT", "io")
when "cpu"
  deadline = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) + 1.0
  x = 0
  x += 1 while Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) < deadline
else
  sleep 1.0
end

run lambda { |_env|
  sleep 0.5
  [200, { "content-type" => "text/plain" }, [Process.pid.to_s]]
}

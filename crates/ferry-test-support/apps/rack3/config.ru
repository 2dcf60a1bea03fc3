# frozen_string_literal: true
#
# rack3: a small app using what Rack 3 added (it also runs under Rack 2 with Ferry's loader,
# which accepts these forms from any Rack version).
#
#   GET  /          -> "rack <Rack.release>"
#   GET  /multi     -> header x-multi given as an Array ["one", "two"] (two header lines)
#   GET  /stream    -> streaming body: body.call(stream) writes "a\n", "b\n", "c\n", closes
#   POST /echo      -> the request body read with rack.input.read; header x-rewindable tells
#                      whether rack.input responds to rewind (Rack 3: not required, Ferry: no)
#   GET  /finished  -> how many rack.response_finished callbacks have run so far

finished = 0
lock = Mutex.new

run(lambda do |env|
  if (callbacks = env["rack.response_finished"])
    callbacks << ->(_env, _status, _headers, _error) { lock.synchronize { finished += 1 } }
  end
  case env["PATH_INFO"]
  when "/multi"
    [200, { "content-type" => "text/plain", "x-multi" => %w[one two] }, ["multi"]]
  when "/stream"
    body = lambda do |stream|
      %W[a\n b\n c\n].each { |part| stream.write(part) }
    ensure
      stream.close
    end
    [200, { "content-type" => "text/plain" }, body]
  when "/echo"
    input = env["rack.input"]
    data = input ? input.read : ""
    [200, { "content-type" => "application/octet-stream",
            "x-rewindable" => input.respond_to?(:rewind).to_s }, [data]]
  when "/finished"
    [200, { "content-type" => "text/plain" }, [lock.synchronize { finished }.to_s]]
  else
    [200, { "content-type" => "text/plain" }, ["rack #{Rack.release}"]]
  end
end)

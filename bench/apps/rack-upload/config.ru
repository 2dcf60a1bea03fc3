# Upload app for bench/slow-clients.sh (part "uploads"): reads the whole request body in 256 KiB
# pieces and answers its length in bytes, as decimal text ("0" for a request without a body).
# Lowercase header names: valid in Rack 2 and Rack 3.
PIECE = 256 * 1024

run lambda { |env|
  total = 0
  input = env["rack.input"]
  if input
    buf = String.new(capacity: PIECE)
    total += buf.bytesize while input.read(PIECE, buf)
  end
  body = total.to_s
  [200, { "content-type" => "text/plain", "content-length" => body.bytesize.to_s }, [body]]
}

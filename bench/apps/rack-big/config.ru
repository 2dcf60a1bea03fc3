# Rack app for bench/slow-clients.sh (part "slow"): GET /big answers 1 MiB (1048576 bytes of
# "x"), anything else answers "hello world". Both bodies are built once, at load time.
# Lowercase header names: valid in Rack 2 and Rack 3.
BIG = ("x" * 1_048_576).freeze
HELLO = "hello world".freeze

run lambda { |env|
  body = env["PATH_INFO"] == "/big" ? BIG : HELLO
  [200, { "content-type" => "text/plain", "content-length" => body.bytesize.to_s }, [body]]
}

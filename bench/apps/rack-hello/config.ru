# Hello-world Rack app for bench/loaders.sh. Lowercase header names: valid in Rack 2 and Rack 3.
run ->(env) { [200, {"content-type" => "text/plain", "content-length" => "11"}, ["hello world"]] }

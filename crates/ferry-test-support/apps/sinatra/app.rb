# frozen_string_literal: true
#
# sinatra: a classic-style Sinatra app (Debian's ruby-sinatra 3.0) for Ferry's tests.
#
#   GET  /      -> HTML page with "Hello from Sinatra" and a form posting to /form
#   POST /form  -> "Thanks, <name>" (name from the form, HTML-escaped)

require "sinatra"

set :environment, (ENV["RACK_ENV"] || "production").to_sym
set :host_authorization, { permitted_hosts: [] } if settings.respond_to?(:host_authorization)

get "/" do
  <<~HTML
    <!DOCTYPE html>
    <html>
      <head><title>Ferry Sinatra test</title></head>
      <body>
        <h1>Hello from Sinatra</h1>
        <form method="post" action="#{request.script_name}/form">
          <label>Name <input type="text" name="name"></label>
          <button type="submit">Send</button>
        </form>
      </body>
    </html>
  HTML
end

post "/form" do
  content_type "text/plain"
  "Thanks, #{Rack::Utils.escape_html(params['name'].to_s)}"
end

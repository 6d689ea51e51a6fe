# A CRM on Rack (what Rails runs on), for the tests: Rack::MethodOverride
# turns a POST with _method into the method it names, as in every Rails app.
use Rack::MethodOverride
run ->(env) { [200, { "content-type" => "text/plain" }, ["method=#{env['REQUEST_METHOD']}\npath=#{env['PATH_INFO']}\n"]] }

"""A CRM on Python's WSGI reference server, for the tests: it says how the
CGI mapping of header names (HTTP_X_PORTCULLIS_USER) and PATH_INFO read
the request. Run with a port: python3 report_wsgi.py 8080"""
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def app(environ, start_response):
    lines = [
        "user=" + environ.get("HTTP_X_PORTCULLIS_USER", ""),
        "ip=" + environ.get("HTTP_X_CLIENT_IP", environ.get("HTTP_X_REAL_IP", "")),
        "path=" + environ.get("PATH_INFO", ""),
    ]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("\n".join(lines) + "\n").encode()]


make_server("127.0.0.1", int(sys.argv[1]), app, handler_class=Quiet).serve_forever()

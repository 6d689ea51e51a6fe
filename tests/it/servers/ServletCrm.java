// A CRM on a real servlet container (Tomcat, embedded), for the tests:
// two servlets, one for /billing/* and one for everything else, each
// answering with how Tomcat read the request. Run with the port and a
// scratch directory: java -cp ... ServletCrm 8080 /tmp/dir
import java.io.IOException;
import java.util.Collections;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.apache.catalina.Context;
import org.apache.catalina.startup.Tomcat;

public class ServletCrm {
    public static void main(String[] args) throws Exception {
        Tomcat tomcat = new Tomcat();
        tomcat.setPort(Integer.parseInt(args[0]));
        tomcat.setBaseDir(args[1]);
        tomcat.getConnector().setProperty("address", "127.0.0.1");
        Context context = tomcat.addContext("", null);
        Tomcat.addServlet(context, "billing", new Report("billing"));
        context.addServletMappingDecoded("/billing/*", "billing");
        Tomcat.addServlet(context, "other", new Report("other"));
        context.addServletMappingDecoded("/", "other");
        tomcat.start();
        System.out.println("listening");
        tomcat.getServer().await();
    }

    static class Report extends HttpServlet {
        private final String name;

        Report(String name) {
            this.name = name;
        }

        @Override
        protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            StringBuilder out = new StringBuilder();
            out.append("servlet=").append(name).append('\n');
            out.append("method=").append(req.getMethod()).append('\n');
            out.append("servlet_path=").append(req.getServletPath()).append('\n');
            out.append("path_info=").append(req.getPathInfo()).append('\n');
            out.append("uri=").append(req.getRequestURI()).append('\n');
            for (String header : Collections.list(req.getHeaderNames())) {
                out.append("header.").append(header.toLowerCase()).append('=').append(req.getHeader(header)).append('\n');
            }
            resp.setContentType("text/plain");
            resp.getWriter().print(out);
        }
    }
}

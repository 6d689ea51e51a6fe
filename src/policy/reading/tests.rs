//! Every reading of a request a CRM server family could make, on requests as clients send them.

use super::*;

fn paths(server: Server, path: &str) -> Result<Vec<String>, Unreadable> {
    read(server, &Method::GET, path, None, &HeaderMap::new()).map(|r| r.paths.iter().map(|p| p.to_string()).collect())
}

fn methods(method: Method, query: Option<&str>, headers: &[(&str, &str)]) -> Result<Vec<Method>, Unreadable> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    read(Server::Generic, &method, "/x", query, &map).map(|r| r.methods.to_vec())
}

#[test]
fn servlet_containers_read_a_path_without_its_parameters() {
    assert_eq!(
        paths(Server::Java, "/billing;jsessionid=1F/invoices").unwrap(),
        ["/billing;jsessionid=1F/invoices", "/billing/invoices"]
    );
    assert_eq!(
        paths(Server::Generic, "/billing%3bx").unwrap(),
        ["/billing%3Bx", "/billing"]
    );
    assert_eq!(
        paths(Server::Php, "/billing;x").unwrap(),
        ["/billing;x"],
        "PHP reads `;` as text"
    );
    assert_eq!(paths(Server::Iis, "/billing;x").unwrap(), ["/billing;x"]);
    assert_eq!(paths(Server::Java, "/contacts").unwrap(), ["/contacts"]);
}

#[test]
fn dot_segments_with_parameters_are_refused_everywhere() {
    for server in [Server::Generic, Server::Java, Server::Php, Server::Iis] {
        for path in [
            "/public/..;/billing",
            "/public/.;/billing",
            "/x/..;jsessionid=1/billing",
            "/x/..%3B/billing",
        ] {
            assert_eq!(
                paths(server, path),
                Err(Unreadable::Path(PathError::DotSegmentWithParameters)),
                "{server:?} {path}"
            );
        }
    }
}

#[test]
fn windows_tricks_are_refused_where_the_crm_may_run_on_windows() {
    for (path, error) in [
        ("/billing./x", PathError::TrailingDotOrSpace),
        ("/billing%20", PathError::TrailingDotOrSpace),
        ("/billing.%20.", PathError::TrailingDotOrSpace),
        ("/BILLIN~1/x", PathError::ShortName),
        ("/billing::$DATA", PathError::StreamName),
        ("/billing%3A%3A$DATA", PathError::StreamName),
    ] {
        for server in [Server::Iis, Server::Generic] {
            assert_eq!(paths(server, path), Err(Unreadable::Path(error)), "{server:?} {path}");
        }
        for server in [Server::Java, Server::Php] {
            assert!(paths(server, path).is_ok(), "{server:?} {path}");
        }
    }
    assert!(
        paths(Server::Iis, "/~user/files").is_ok(),
        "a ~ without a digit is no short name"
    );
}

#[test]
fn head_is_also_read_as_get_and_overrides_as_the_method_they_name() {
    assert_eq!(methods(Method::HEAD, None, &[]).unwrap(), [Method::HEAD, Method::GET]);
    assert_eq!(methods(Method::GET, None, &[]).unwrap(), [Method::GET]);
    assert_eq!(
        methods(Method::POST, None, &[("x-http-method-override", "delete")]).unwrap(),
        [Method::POST, Method::DELETE]
    );
    assert_eq!(
        methods(
            Method::POST,
            None,
            &[("X-HTTP-Method", "PUT"), ("x-method-override", "PATCH, DELETE")]
        )
        .unwrap(),
        [Method::POST, Method::PUT, Method::PATCH, Method::DELETE]
    );
    for query in [
        "_method=DELETE",
        "a=1&_METHOD=delete",
        "a=1;_method=DELETE",
        "x-http-method-override=DELETE",
        "_method[]=DELETE",
        ".method=DELETE",
    ] {
        assert_eq!(
            methods(Method::POST, Some(query), &[]).unwrap(),
            [Method::POST, Method::DELETE],
            "{query}"
        );
    }
    assert_eq!(
        methods(Method::GET, Some("payment_method=card"), &[]).unwrap(),
        [Method::GET]
    );
}

#[test]
fn overrides_that_are_not_method_names_and_never_forwarded_methods_are_refused() {
    assert!(matches!(
        methods(Method::POST, Some("_method=DEL%0AETE"), &[]),
        Err(Unreadable::Override(_))
    ));
    assert!(matches!(
        methods(Method::POST, None, &[("x-http-method-override", "TRACE")]),
        Err(Unreadable::Override(_))
    ));
    for method in ["TRACE", "TRACK", "DEBUG"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        assert_eq!(methods(method.clone(), None, &[]), Err(Unreadable::Method(method)));
    }
}

#[test]
fn a_webdav_destination_is_read_as_a_path_too() {
    let mut headers = HeaderMap::new();
    headers.insert("destination", "https://crm.example.com/billing/x".parse().unwrap());
    let reading = read(
        Server::Php,
        &Method::from_bytes(b"MOVE").unwrap(),
        "/public/x",
        None,
        &headers,
    )
    .unwrap();
    assert_eq!(reading.paths.to_vec(), ["/public/x", "/billing/x"]);
    headers.insert("destination", "/a/%2e%2e;/billing".parse().unwrap());
    assert!(read(
        Server::Php,
        &Method::from_bytes(b"COPY").unwrap(),
        "/public/x",
        None,
        &headers
    )
    .is_err());
}

fn body_overrides(content_type: Option<&str>, body: &str) -> Result<Vec<Method>, Unreadable> {
    let mut headers = HeaderMap::new();
    if let Some(value) = content_type {
        headers.insert(http::header::CONTENT_TYPE, value.parse().unwrap());
    }
    FormBody::of(&headers)
        .expect("a form")
        .overrides(&bytes::Bytes::from(body.to_owned()))
}

#[test]
fn overrides_are_found_in_urlencoded_json_and_multipart_bodies() {
    assert_eq!(body_overrides(None, "_method=delete").unwrap(), [Method::DELETE]);
    assert_eq!(
        body_overrides(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            "a=1&_m%65thod=PATCH"
        )
        .unwrap(),
        [Method::PATCH]
    );
    assert_eq!(
        body_overrides(Some("application/json"), r#"{"_method":"DELETE","a":1}"#).unwrap(),
        [Method::DELETE]
    );
    assert!(body_overrides(Some("application/json"), "").unwrap().is_empty());
    let multipart = "--XX\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n\
                     --XX\r\nContent-Disposition: form-data; name=\"_method\"\r\n\r\ndelete\r\n--XX--\r\n";
    assert_eq!(
        body_overrides(Some("multipart/form-data; boundary=XX"), multipart).unwrap(),
        [Method::DELETE]
    );
    let none = "--XX\r\nContent-Disposition: form-data; name=\"payment_method\"\r\n\r\ncard\r\n--XX--\r\n";
    assert!(body_overrides(Some("multipart/form-data; boundary=XX"), none)
        .unwrap()
        .is_empty());
}

#[test]
fn bodies_that_could_be_read_two_ways_are_refused() {
    let twice = "--XX\r\nContent-Disposition: form-data; name=\"a\"; name=\"_method\"\r\n\r\nDELETE\r\n--XX--\r\n";
    assert_eq!(
        body_overrides(Some("multipart/form-data; boundary=XX"), twice),
        Err(Unreadable::Body)
    );
    let extended = "--XX\r\nContent-Disposition: form-data; name*=UTF-8''_method\r\n\r\nDELETE\r\n--XX--\r\n";
    assert_eq!(
        body_overrides(Some("multipart/form-data; boundary=XX"), extended),
        Err(Unreadable::Body)
    );
    assert_eq!(
        body_overrides(Some("multipart/form-data"), "x"),
        Err(Unreadable::Body),
        "no boundary"
    );
    assert_eq!(
        body_overrides(Some("application/json"), "{not json"),
        Err(Unreadable::Body)
    );
    assert_eq!(
        body_overrides(Some("application/json"), r#"{"_method":["DELETE"]}"#),
        Err(Unreadable::Body)
    );
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, "text/plain".parse().unwrap());
    assert_eq!(
        FormBody::of(&headers),
        None,
        "no framework reads a form from text/plain"
    );
}

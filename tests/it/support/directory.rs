//! The company directory in the tests: Debian's OpenLDAP `slapd` (what
//! Active Directory speaks, as far as signing in goes), seeded with people
//! and a read-only service account, serving LDAPS and StartTLS on free
//! loopback ports with a certificate from its own private CA. Stopped when
//! dropped. scripts/test installs it.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pki::TestPki;
use super::redis::free_port;

pub const BASE_DN: &str = "dc=example,dc=com";
pub const SERVICE_DN: &str = "cn=portcullis,ou=services,dc=example,dc=com";
pub const SERVICE_PASSWORD: &str = "the service account's password";

pub struct Directory {
    /// `ldaps://127.0.0.1:…`
    pub ldaps: String,
    /// `ldap://127.0.0.1:…`, for StartTLS.
    pub ldap: String,
    /// The CA that signed its certificate (PEM), for `auth.directory.ca_file`.
    pub ca_pem: Vec<u8>,
    child: Child,
    _pki: TestPki,
}

fn slapd_tool(name: &str) -> String {
    let sbin = format!("/usr/sbin/{name}");
    match std::path::Path::new(&sbin).exists() {
        true => sbin,
        false => panic!(
            "{name} is missing. The tests need a real LDAP directory: run scripts/test \
             (it installs slapd) or `apt-get install slapd`"
        ),
    }
}

impl Directory {
    /// Serve these people: (uid, password, mail), under ou=people.
    pub fn start(people: &[(&str, &str, &str)]) -> Directory {
        let pki = TestPki::new();
        let (cert, key) = pki.issue("directory", &["localhost"]);
        let dir = pki.path();
        let db = dir.join("db");
        std::fs::create_dir(&db).unwrap();
        let conf = dir.join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\n\
                 modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
                 pidfile {dir}/slapd.pid\n\
                 TLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n\
                 database mdb\nsuffix \"{BASE_DN}\"\ndirectory {db}\n\
                 access to attrs=userPassword by anonymous auth by * none\n\
                 access to * by dn.exact=\"{SERVICE_DN}\" read by * none\n",
                dir = dir.display(),
                cert = cert.display(),
                key = key.display(),
                db = db.display(),
            ),
        )
        .unwrap();
        let mut ldif = format!(
            "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
             dn: ou=people,{BASE_DN}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=services,{BASE_DN}\nobjectClass: organizationalUnit\nou: services\n\n\
             dn: {SERVICE_DN}\nobjectClass: person\ncn: portcullis\nsn: service\nuserPassword: {SERVICE_PASSWORD}\n\n"
        );
        for (uid, password, mail) in people {
            ldif.push_str(&format!(
                "dn: uid={uid},ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n\
                 mail: {mail}\nuserPassword: {password}\n\n"
            ));
        }
        let seed = dir.join("seed.ldif");
        std::fs::write(&seed, ldif).unwrap();
        let added = Command::new(slapd_tool("slapadd"))
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&seed)
            .output()
            .unwrap();
        assert!(
            added.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&added.stderr)
        );
        let (plain, tls) = (free_port(), free_port());
        let ldap = format!("ldap://127.0.0.1:{plain}");
        let ldaps = format!("ldaps://127.0.0.1:{tls}");
        // -d 0: in the foreground (killed when dropped), logging nothing.
        let child = Command::new(slapd_tool("slapd"))
            .arg("-f")
            .arg(&conf)
            .args(["-h", &format!("{ldap}/ {ldaps}/"), "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut directory = Directory {
            ldaps,
            ldap,
            ca_pem: std::fs::read(dir.join("ca.pem")).unwrap(),
            child,
            _pki: pki,
        };
        directory.wait_for(&[plain, tls]);
        directory
    }

    fn wait_for(&mut self, ports: &[u16]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in ports {
            let addr: SocketAddr = ([127, 0, 0, 1], *port).into();
            while TcpStream::connect(addr).is_err() {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("slapd exited early with {status}");
                }
                assert!(Instant::now() < deadline, "slapd did not listen on {addr} within 10 s");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Directory {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

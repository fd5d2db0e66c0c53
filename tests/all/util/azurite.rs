//! A real Azure Blob Storage emulator for tests: Azurite (npm, installed into
//! tests/emulators by scripts/test-deps.sh) in memory on a free loopback port; containers are
//! created with Microsoft's Python client (azure-storage-blob). Killed on drop.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Azurite's well-known development account.
const ACCOUNT: &str = "devstoreaccount1";
/// Its published key (the same in every Azurite).
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A running Azurite blob service.
pub struct Azurite {
    child: Child,
    /// `http://127.0.0.1:PORT/devstoreaccount1`.
    pub endpoint: String,
}

impl Azurite {
    /// Starts Azurite with in-memory storage.
    pub fn start() -> Self {
        super::test_deps();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/emulators/node_modules/.bin/azurite-blob");
        let child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--silent", "--skipApiVersionCheck"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting azurite");
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "azurite did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Azurite {
            child,
            endpoint: format!("http://127.0.0.1:{port}/{ACCOUNT}"),
        }
    }

    fn python(&self, script: &str, arg: &str) -> String {
        let connection = format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={};",
            self.endpoint
        );
        let out = Command::new("python3")
            .args(["-c", script, &connection, arg])
            .output()
            .expect("running python3");
        assert!(
            out.status.success(),
            "azure-storage-blob: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates a container and returns the `--storage` URL of `prefix` in it.
    pub fn container(&self, name: &str, prefix: &str) -> String {
        self.python(
            "import sys\nfrom azure.storage.blob import BlobServiceClient\n\
             BlobServiceClient.from_connection_string(sys.argv[1]).create_container(sys.argv[2])",
            name,
        );
        format!(
            "az://{name}/{prefix}?account_name={ACCOUNT}&access_key={}&endpoint={}&allow_http=true",
            KEY.replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D"),
            self.endpoint
        )
    }

    /// Lists the blob names in a container, to check where objects went.
    pub fn keys(&self, name: &str) -> Vec<String> {
        self.python(
            "import sys\nfrom azure.storage.blob import BlobServiceClient\n\
             c = BlobServiceClient.from_connection_string(sys.argv[1]).get_container_client(sys.argv[2])\n\
             print('\\n'.join(b.name for b in c.list_blobs()))",
            name,
        )
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

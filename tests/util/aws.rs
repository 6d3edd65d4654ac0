//! The AWS test rig: a strict moto server (scripts/moto-server.py) and a fault-injecting
//! proxy (scripts/fault-proxy.py), both from the venv scripts/install-test-deps.sh makes
//! under target/venv, and the ingot binary pointed at them with the SDK's endpoint URL.

use super::repo;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The test venv's Python; fails (naming the installer) when it is missing.
pub fn python() -> PathBuf {
    let p = repo().join("target/venv/bin/python");
    assert!(p.exists(), "{} is missing: run scripts/install-test-deps.sh (it creates the venv with moto)", p.display());
    p
}

/// A server process on 127.0.0.1 that printed `READY <port>`; killed when dropped.
pub struct Server {
    child: Child,
    /// Its port.
    pub port: u16,
}

impl Server {
    fn start(cmd: &mut Command) -> Server {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("start a test server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("READY ").and_then(|p| p.parse().ok());
        let port = port.unwrap_or_else(|| panic!("the server did not start: {line:?}"));
        Server { child, port }
    }

    /// A strict moto server.
    pub fn moto() -> Server {
        Server::moto_with(&[])
    }

    /// A strict moto server with extra environment.
    pub fn moto_with(env: &[(&str, &str)]) -> Server {
        let mut c = Command::new(python());
        c.arg(repo().join("scripts/moto-server.py")).arg("0");
        for (k, v) in env {
            c.env(k, v);
        }
        Server::start(&mut c)
    }

    /// A fault proxy in front of `upstream`.
    pub fn proxy(upstream: &Server, args: &[&str]) -> Server {
        Server::start(
            Command::new(python()).arg(repo().join("scripts/fault-proxy.py")).arg(upstream.port.to_string()).args(args),
        )
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// GET `path` as JSON.
    pub fn get(&self, path: &str) -> serde_json::Value {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }

    /// The EC2 requests the moto server recorded with `action`.
    pub fn ec2(&self, action: &str) -> Vec<serde_json::Value> {
        let all = self.get("/_ingot/requests");
        all.as_array().unwrap().iter().filter(|r| r["action"] == action).cloned().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ingot binary with AWS settings for `endpoint` and nothing from the host's AWS setup.
pub fn ingot_aws(endpoint: &str) -> Command {
    let mut c = super::ingot();
    for k in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_EBS", "AWS_ENDPOINT_URL_EC2"]
    {
        c.env_remove(k);
    }
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/ingot-test-config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/ingot-test-credentials");
    c
}

/// Runs `cmd`, asserting success and a quiet stderr; parses stdout as JSON.
/// `ingot publish RECIPE -o OUT --poll 1 --json` against `endpoint`: the report.
pub fn publish_recipe(endpoint: &str, recipe: &Path, out: &Path) -> serde_json::Value {
    json(ingot_aws(endpoint).arg("publish").arg(recipe).arg("-o").arg(out).args(["--poll", "1", "--json"]))
}

pub fn json(cmd: &mut Command) -> serde_json::Value {
    let o = super::run(cmd);
    assert!(o.status.success(), "{:?} failed: {}", cmd, String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "--json must keep stderr quiet: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

/// scripts/ebs-check.py (boto3, independent of ingot).
pub fn ebs_check(args: &[&str]) -> serde_json::Value {
    check_script("ebs-check", args)
}

/// scripts/s3-check.py (boto3, independent of ingot).
pub fn s3_check(args: &[&str]) -> serde_json::Value {
    check_script("s3-check", args)
}

/// scripts/lifecycle-check.py ENDPOINT (boto3, independent of ingot).
pub fn check_lifecycle(endpoint: &str) -> serde_json::Value {
    check_script("lifecycle-check", &[endpoint])
}

/// scripts/lifecycle-check.py COMMAND ARGS… (boto3, independent of ingot): `state`,
/// `parameter`, `launch-template`, `put-object`, `list-objects`.
pub fn lifecycle(command: &str, args: &[&str]) -> serde_json::Value {
    check_script("lifecycle-check", &[&[command], args].concat())
}

/// Runs scripts/NAME.py with the venv's Python, asserting success; parses stdout as JSON.
fn check_script(name: &str, args: &[&str]) -> serde_json::Value {
    let o = super::run(Command::new(python()).arg(repo().join(format!("scripts/{name}.py"))).args(args));
    assert!(o.status.success(), "{name} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Indexes of the 512 KiB blocks of `image` that are not all zeros.
pub fn nonzero_blocks(image: &Path) -> Vec<u64> {
    let data = std::fs::read(image).unwrap();
    data.chunks(524_288).enumerate().filter(|(_, c)| c.iter().any(|&b| b != 0)).map(|(i, _)| i as u64).collect()
}

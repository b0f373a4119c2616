//! A validating admission webhook on loopback HTTPS that refuses dry runs,
//! as a webhook with side effects does (`sideEffects: Unknown` in
//! `admissionregistration/v1beta1`; `v1` no longer accepts that value, so
//! the webhook itself denies requests with `dryRun: true`) and allows
//! everything else. It counts what it saw.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::git_server::TestCa;

/// The message the webhook denies dry runs with.
pub const DENIED: &str = "this webhook has side effects and refuses dry runs";

/// The running webhook server; stops when dropped.
pub struct DryRunRefusingWebhook {
    port: u16,
    ca_pem: String,
    stop: Arc<AtomicBool>,
    /// Requests reviewed: (dry runs, others).
    seen: Arc<(AtomicUsize, AtomicUsize)>,
}

impl DryRunRefusingWebhook {
    /// Starts serving on a free loopback port.
    pub fn start() -> Self {
        let ca = TestCa::new();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let (stopped, counts, config) = (stop.clone(), seen.clone(), ca.server_config.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (config, counts) = (config.clone(), counts.clone());
                std::thread::spawn(move || {
                    let Ok(connection) = rustls::ServerConnection::new(config) else { return };
                    let mut tls = rustls::StreamOwned::new(connection, stream);
                    serve(&mut tls, &counts);
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        Self { port, ca_pem: ca.ca_pem, stop, seen }
    }

    /// A `ValidatingWebhookConfiguration` named `name` sending this server
    /// the ConfigMap writes in namespaces labelled `capstan.dev/webhook-test: <selector>`.
    pub fn configuration(&self, name: &str, selector: &str) -> Value {
        let ca_bundle = serde_json::to_value(k8s_openapi::ByteString(self.ca_pem.clone().into_bytes())).unwrap();
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [{
                "name": format!("{name}.capstan.dev"),
                "clientConfig": {"url": format!("https://127.0.0.1:{}/validate", self.port), "caBundle": ca_bundle},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["configmaps"]}],
                "namespaceSelector": {"matchLabels": {"capstan.dev/webhook-test": selector}},
                "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 5
            }]
        })
    }

    /// (dry runs refused, other requests allowed) so far.
    pub fn seen(&self) -> (usize, usize) {
        (self.seen.0.load(Ordering::SeqCst), self.seen.1.load(Ordering::SeqCst))
    }
}

impl Drop for DryRunRefusingWebhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Answers one AdmissionReview per request on a connection until it closes.
fn serve<S: Read + Write>(stream: &mut S, seen: &(AtomicUsize, AtomicUsize)) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let uid = review.pointer("/request/uid").cloned().unwrap_or(Value::Null);
        let dry_run = review.pointer("/request/dryRun") == Some(&Value::Bool(true));
        let response = if dry_run {
            seen.0.fetch_add(1, Ordering::SeqCst);
            json!({"uid": uid, "allowed": false, "status": {"code": 400, "message": DENIED}})
        } else {
            seen.1.fetch_add(1, Ordering::SeqCst);
            json!({"uid": uid, "allowed": true})
        };
        let body =
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}).to_string();
        let head =
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
        let out = reader.get_mut();
        if out
            .write_all(head.as_bytes())
            .and_then(|()| out.write_all(body.as_bytes()))
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}

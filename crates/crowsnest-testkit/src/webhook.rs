//! A real HTTP receiver for webhook tests: listens on 127.0.0.1, answers every request
//! `200 OK`, and hands each request's method, path, headers (lower-cased names) and body to
//! the test. Plain HTTP/1.1 over `std::net`, one connection at a time, `Connection: close`.

// Test support: a broken receiver is reported by panicking in the test that started it.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// `POST`, ...
    pub method: String,
    /// The request path.
    pub path: String,
    /// Headers by lower-cased name.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Delivery {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON webhook body")
    }
}

/// A running receiver; its thread ends with the test process.
pub struct Receiver {
    url: String,
    rx: mpsc::Receiver<Delivery>,
}

impl Receiver {
    /// Starts listening on a free port of 127.0.0.1.
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the webhook receiver");
        let url = format!(
            "http://{}/hook",
            listener.local_addr().expect("the receiver's address")
        );
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Some(delivery) = read_request(&mut stream) else {
                    continue;
                };
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                if tx.send(delivery).is_err() {
                    return;
                }
            }
        });
        Receiver { url, rx }
    }

    /// The URL to configure as the webhook.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next request, waiting up to `within`.
    pub fn next(&self, within: Duration) -> Option<Delivery> {
        self.rx.recv_timeout(within).ok()
    }

    /// Every request received so far, without waiting.
    pub fn drain(&self) -> Vec<Delivery> {
        self.rx.try_iter().collect()
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Delivery> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Delivery {
        method,
        path,
        headers,
        body,
    })
}

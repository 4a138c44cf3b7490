//! Test doubles of the alert tests: a webhook receiver answering a script of statuses, and
//! an SMTP sink speaking just enough SMTP for lettre, both on loopback.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A webhook receiver on `http://127.0.0.1:PORT/hook?token=…`.
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Answers request `i` with `script[i]`, 200 after the script's end.
    pub async fn start(script: Vec<u16>) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let shared = Arc::clone(&got);
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let shared = Arc::clone(&shared);
                let script = script.clone();
                async move {
                    let mut g = shared.lock().unwrap();
                    let status = script.get(g.len()).copied().unwrap_or(200);
                    g.push(Received { headers, body });
                    (StatusCode::from_u16(status).unwrap(), "ok")
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{addr}/hook?token=tok-in-query"),
            got,
        }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (at most 30 s) until `n` requests came; the requests then.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..300 {
            if self.got.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.requests()
    }
}

/// One mail the sink got.
#[derive(Clone, Debug)]
pub struct SunkMail {
    pub from: String,
    pub rcpt: Vec<String>,
    /// Header lines unfolded, as `(lower-case name, value)`.
    pub headers: Vec<(String, String)>,
    /// The body, quoted-printable decoded when it was.
    pub body: String,
}

impl SunkMail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An SMTP sink on loopback.
pub struct Sink {
    pub port: u16,
    pub mails: Arc<Mutex<Vec<SunkMail>>>,
}

impl Sink {
    pub async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails: Arc<Mutex<Vec<SunkMail>>> = Arc::default();
        let shared = Arc::clone(&mails);
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(session(conn, Arc::clone(&shared)));
            }
        });
        Sink { port, mails }
    }

    pub fn mails(&self) -> Vec<SunkMail> {
        self.mails.lock().unwrap().clone()
    }
}

async fn session(conn: tokio::net::TcpStream, mails: Arc<Mutex<Vec<SunkMail>>>) {
    let (r, mut w) = conn.into_split();
    let mut r = BufReader::new(r);
    let _ = w.write_all(b"220 sink ESMTP ready\r\n").await;
    let (mut from, mut rcpt) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let up = line.to_ascii_uppercase();
        let reply: &[u8] = if up.starts_with("EHLO") || up.starts_with("HELO") {
            b"250-sink\r\n250 8BITMIME\r\n"
        } else if up.starts_with("MAIL FROM:") {
            from = addr(&line[10..]);
            b"250 OK\r\n"
        } else if up.starts_with("RCPT TO:") {
            rcpt.push(addr(&line[8..]));
            b"250 OK\r\n"
        } else if up.starts_with("DATA") {
            let _ = w.write_all(b"354 go ahead\r\n").await;
            let mut data = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                if line == ".\r\n" {
                    break;
                }
                // Dot-stuffing undone.
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            mails.lock().unwrap().push(parse(
                std::mem::take(&mut from),
                std::mem::take(&mut rcpt),
                &data,
            ));
            b"250 queued\r\n"
        } else if up.starts_with("QUIT") {
            let _ = w.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 OK\r\n"
        };
        let _ = w.write_all(reply).await;
    }
}

fn addr(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or("")
        .to_string()
}

fn parse(from: String, rcpt: Vec<String>, data: &str) -> SunkMail {
    let (head, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let headers: Vec<(String, String)> = unfolded
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let qp = headers.iter().any(|(n, v)| {
        n == "content-transfer-encoding" && v.eq_ignore_ascii_case("quoted-printable")
    });
    let body = if qp {
        quoted_printable(body)
    } else {
        body.to_string()
    };
    SunkMail {
        from,
        rcpt,
        headers,
        body: body.replace("\r\n", "\n"),
    }
}

fn quoted_printable(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

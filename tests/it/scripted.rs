//! A scripted HTTP server on 127.0.0.1 for the cases the sandbox cannot produce on demand:
//! each connection gets the next answer of a script, and every request head is recorded.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One scripted HTTP answer: status line, content type, body, and the Content-Length to claim
/// (the real length when `None`; a larger one cuts the answer off).
pub struct Answer {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
    pub declared: Option<usize>,
    pub extra_headers: String,
}

pub fn answer(status: &'static str, content_type: &'static str, body: &'static str) -> Answer {
    Answer {
        status,
        content_type,
        body,
        declared: None,
        extra_headers: String::new(),
    }
}

/// The request heads a scripted server has seen, in order.
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn heads(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Serves connection i with `script[i]` (the last one repeating), one request per connection.
/// Returns the base URL (`http://127.0.0.1:PORT/api`) and what it saw.
pub fn serve(script: Vec<Answer>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Seen::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = vec![0u8; 1 << 16];
            let n = s.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n])
                .split("\r\n\r\n")
                .next()
                .unwrap_or("")
                .to_owned();
            let i = {
                let mut l = log.0.lock().unwrap();
                l.push(head);
                l.len() - 1
            };
            let a = &script[i.min(script.len() - 1)];
            let response = format!(
                "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{}",
                a.status,
                a.content_type,
                a.declared.unwrap_or(a.body.len()),
                a.extra_headers,
                a.body
            );
            let _ = s.write_all(response.as_bytes());
        }
    });
    (format!("http://{addr}/api"), seen)
}

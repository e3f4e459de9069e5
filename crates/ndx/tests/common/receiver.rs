//! A loopback HTTP endpoint for push-delivery tests: it records every POST it receives (its
//! headers and JSON body) and answers as told — 200, another status, or nothing for a while (a
//! hung receiver).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// `200 OK`.
    Ok,
    /// This status.
    Status(u16),
    /// Waits this long before a `200` (longer than the sender's deadline: a timeout).
    Hang(Duration),
    /// Applies the delivery on arrival (recorded as answered `200`), then takes this long to
    /// say so: a sender that dies meanwhile sends it again, which an idempotent receiver
    /// recognises by its delivery id.
    Slow(Duration),
}

/// One POST received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    /// The raw body.
    pub raw: Vec<u8>,
    /// The body as JSON.
    pub body: Value,
    /// What it was answered: the status, or 0 when the answer came after a hang (the sender
    /// had given up).
    pub answered: u16,
}

/// A running receiver.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    answer: Arc<Mutex<Answer>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Starts one on an ephemeral loopback port, answering 200.
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let answer = Arc::new(Mutex::new(Answer::Ok));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (a, r) = (answer.clone(), received.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (a, r) = (a.clone(), r.clone());
                std::thread::spawn(move || serve(stream, &a, &r));
            }
        });
        Receiver {
            addr,
            answer,
            received,
        }
    }

    /// The endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}/ndx/changes", self.addr)
    }

    /// Answers from now on with `answer`.
    pub fn answer(&self, answer: Answer) {
        *self.answer.lock().expect("lock") = answer;
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits until `done` holds for what was received, or panics after `within`.
    pub fn wait_for(&self, within: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(
                start.elapsed() < within,
                "receiver waited {within:?}; got {} deliveries: {:?}",
                got.len(),
                got.iter()
                    .map(|r| (r.headers.get("ndx-delivery-id").cloned(), r.answered))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn serve(stream: TcpStream, answer: &Mutex<Answer>, received: &Mutex<Vec<Received>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut stream = stream;
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut raw = vec![0u8; length];
    if reader.read_exact(&mut raw).is_err() {
        return;
    }
    let how = *answer.lock().expect("lock");
    let status = match how {
        Answer::Ok | Answer::Slow(_) => 200,
        Answer::Status(s) => s,
        Answer::Hang(_) => 0,
    };
    // Recorded on arrival: a hung request is seen while the sender still waits for it.
    received.lock().expect("lock").push(Received {
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
        headers,
        raw,
        answered: status,
    });
    if let Answer::Hang(d) | Answer::Slow(d) = how {
        std::thread::sleep(d);
    }
    let status = if status == 0 { 200 } else { status };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
    );
}

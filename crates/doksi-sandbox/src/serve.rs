//! The accept loop both sandbox servers run, in place of `axum::serve`: it serves each
//! connection itself so that a request can end its connection without an answer, as a crashed
//! proxy or a dropped link would. Every request carries a [`Connection`] in its extensions for
//! that; which requests use it is the fault plan's business (`faults`, `inject`), not this
//! module's. Stopping stays graceful: no new connections, idle ones closed, requests in flight
//! finished; aborting the loop's task aborts every connection with it.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// How long to wait before accepting again after an error that is not one connection's, such
/// as running out of file descriptors (hyper 0.14's and axum's choice).
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// A request's handle on the connection it came on.
#[derive(Clone)]
pub(super) struct Connection {
    hang_up: Arc<Notify>,
    stopping: watch::Receiver<bool>,
}

impl Connection {
    /// Ends the connection at once with a TCP reset and no answer, dropping the request's
    /// handler where it stands. A handler that calls this should then wait forever.
    pub(super) fn hang_up(&self) {
        // `notify_one` keeps a permit if the connection task is not waiting yet.
        self.hang_up.notify_one();
    }

    /// Resolves once the sandbox is stopping, so a deliberately stalled request can give up
    /// instead of holding `Sandbox::stop` for its whole grace period.
    pub(super) async fn stopping(&self) {
        until_stop(&mut self.stopping.clone()).await;
    }
}

async fn until_stop(stopped: &mut watch::Receiver<bool>) {
    // A dropped sender means the sandbox is gone: a reason to stop too.
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Serves `router` on `listener` until `stopped` turns true (or its sender drops), then waits
/// for the connections to finish.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) {
    // Owned by this task, so aborting it (as `Sandbox`'s drop does) aborts every connection.
    let mut connections = JoinSet::new();
    let for_connections = stopped.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, router.clone(), for_connections.clone()));
                }
                Err(e) if is_connection_error(&e) => {}
                Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = until_stop(&mut stopped) => break,
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// An error that ends one incoming connection, not the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// One HTTP/1 connection, until the client closes it, a request hangs it up or the sandbox
/// stops.
async fn connection(stream: TcpStream, router: Router, mut stopped: watch::Receiver<bool>) {
    let handle = Connection {
        hang_up: Arc::new(Notify::new()),
        stopping: stopped.clone(),
    };
    let hang_up = handle.hang_up.clone();
    let router = TowerToHyperService::new(router);
    let service = service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(handle.clone());
        router.call(req)
    });
    let mut conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = &mut conn => return,
            () = hang_up.notified() => break,
            () = until_stop(&mut stopped), if !stopping => {
                stopping = true;
                std::pin::Pin::new(&mut conn).graceful_shutdown();
            }
        }
    }
    // Taking the parts drops the request's handler first, so the request log holds the entry
    // before the client can see the reset.
    let stream = conn.into_parts().io.into_inner();
    // SO_LINGER 0 turns the close into a RST, what a crashed peer or a middlebox sends; the
    // client gets "connection reset", never a status.
    let _ = stream.set_zero_linger();
}

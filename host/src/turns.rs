//! Turns: how many of one component's requests compute at once.
//!
//! Why: a guest computes without yielding between its host calls, and each host call sends it
//! to the back of its pool's queue, so the requests of one component share its threads round
//! robin: with 16 in flight each takes 16 times its own time and they all finish late.
//! Taking turns in arrival order finishes them one after another instead (16 fresh-hour
//! flame-graph clients beside 500 uploads/s: p99 4.2–5.4 s → 3.0–3.5 s; docs/benchmarks.md,
//! "Turns").
//!
//! A request takes its turn once its whole body has arrived, so that a client sending slowly
//! holds none: before its instance is made if it came whole (a GET), else when the guest
//! reads to the body's end, whose last frame waits for the turn. The turn is given back when
//! the last of the request's instance and body is dropped, and for the time a storage call
//! waits (a listing, a remote round trip; not a local read done at once), so that another
//! request computes meanwhile. Turns go by arrival: a request taking its turn back comes
//! before every request that arrived after it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use tokio::sync::oneshot;

/// One component's turns: `None` for no limit.
pub type Turns = Option<Arc<Queue>>;

/// Makes a component's turns: `at_once` of its requests compute at once (0: no limit).
pub fn turns(at_once: usize) -> Turns {
    (at_once > 0).then(|| {
        Arc::new(Queue {
            state: Mutex::new(State {
                free: at_once,
                ..State::default()
            }),
        })
    })
}

/// The turns free and the requests waiting for one, by arrival.
pub struct Queue {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    free: usize,
    /// Requests numbered so far, by arrival.
    arrivals: u64,
    /// Keys (arrival, wait) so that two waits of one request cannot collide.
    waits: u64,
    waiting: BTreeMap<(u64, u64), oneshot::Sender<()>>,
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, State> {
        // The state is consistent between statements, so a poisoned lock is still good.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands a turn given back to the earliest arrival waiting, else keeps it free.
    fn hand_on(&self) {
        let mut state = self.state();
        while let Some((_, waiter)) = state.waiting.pop_first() {
            if waiter.send(()).is_ok() {
                return;
            }
        }
        state.free += 1;
    }

    async fn acquire(self: &Arc<Self>, arrival: u64) -> Held {
        let waiter = {
            let mut state = self.state();
            if state.free > 0 {
                state.free -= 1;
                return Held(self.clone());
            }
            let (sender, receiver) = oneshot::channel();
            state.waits += 1;
            let key = (arrival, state.waits);
            state.waiting.insert(key, sender);
            Waiter {
                queue: self.clone(),
                key,
                receiver,
                done: false,
            }
        };
        waiter.await
    }
}

/// A turn held: handed on when dropped.
struct Held(Arc<Queue>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.hand_on();
    }
}

/// A wait for a turn; if it is dropped (the request gave up), it leaves the queue, handing on
/// a turn it was given meanwhile.
struct Waiter {
    queue: Arc<Queue>,
    key: (u64, u64),
    receiver: oneshot::Receiver<()>,
    done: bool,
}

impl Future for Waiter {
    type Output = Held;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Held> {
        // The sender goes only with a turn, so any answer is one.
        let _ = std::task::ready!(Pin::new(&mut self.receiver).poll(cx));
        self.done = true;
        Poll::Ready(Held(self.queue.clone()))
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let queued = self.queue.state().waiting.remove(&self.key).is_some();
        if !queued && self.receiver.try_recv().is_ok() {
            self.queue.hand_on();
        }
    }
}

/// One request's turn: shared by its body and its instance, given back when both are gone.
#[derive(Clone, Default)]
pub struct Turn {
    queue: Turns,
    arrival: u64,
    held: Arc<Mutex<Option<Held>>>,
}

impl Turn {
    /// A request's turn among `turns`, not yet taken; it arrives now.
    pub fn of(turns: &Turns) -> Turn {
        let arrival = turns.as_ref().map_or(0, |queue| {
            let mut state = queue.state();
            state.arrivals += 1;
            state.arrivals
        });
        Turn {
            queue: turns.clone(),
            arrival,
            held: Arc::default(),
        }
    }

    fn held(&self) -> MutexGuard<'_, Option<Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the request may compute now: it holds its turn, or there is no limit.
    pub fn taken(&self) -> bool {
        self.queue.is_none() || self.held().is_some()
    }

    /// Waits for the turn, unless it is [taken](Turn::taken) already.
    pub async fn take(&self) {
        let Some(queue) = self.queue.clone().filter(|_| !self.taken()) else {
            return;
        };
        let held = queue.acquire(self.arrival).await;
        // Were it taken meanwhile, the extra turn is handed on as it drops.
        self.held().get_or_insert(held);
    }

    /// [`Turn::take`] as a boxed future, for a body's `poll_frame` to poll.
    pub fn waiting(&self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let turn = self.clone();
        Box::pin(async move { turn.take().await })
    }

    /// Runs `work` (a storage call), giving the turn back while it waits and taking it again
    /// before the request goes on; work done at its first poll keeps the turn.
    pub async fn aside<F: Future>(&self, work: F) -> F::Output {
        let mut work = std::pin::pin!(work);
        let mut gave_back = None;
        let out = std::future::poll_fn(|cx| {
            let poll = work.as_mut().poll(cx);
            if poll.is_pending() && gave_back.is_none() {
                let held = self.held().take();
                gave_back = Some(held.is_some());
                drop(held);
            }
            poll
        })
        .await;
        if gave_back == Some(true) {
            self.take().await;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn turns_are_taken_in_arrival_order_and_given_back_when_the_last_holder_drops() {
        let turns = turns(1);
        let first = Turn::of(&turns);
        first.take().await;
        assert!(first.taken());
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for name in ["second", "third"] {
            let (turn, order) = (Turn::of(&turns), order.clone());
            tasks.push(tokio::spawn(async move {
                turn.waiting().await;
                order.lock().map(|mut o| o.push(name)).ok();
            }));
            // Queued at the semaphore before the next one arrives.
            tokio::task::yield_now().await;
        }
        let waited = || order.lock().map(|o| o.len()).unwrap_or(0);
        // The body's clone still holds the turn after the instance's is dropped.
        let body = first.clone();
        drop(first);
        tokio::task::yield_now().await;
        assert_eq!(waited(), 0);
        drop(body);
        for task in tasks {
            assert!(task.await.is_ok());
        }
        assert_eq!(
            *order.lock().unwrap_or_else(|e| e.into_inner()),
            ["second", "third"]
        );
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_storage_wait_lends_the_turn_and_takes_it_back_before_later_arrivals() {
        let turns = turns(1);
        let (a, b, c) = (Turn::of(&turns), Turn::of(&turns), Turn::of(&turns));
        a.take().await;
        // Work done at once keeps the turn.
        assert_eq!(a.aside(async { 7 }).await, 7);
        assert!(a.taken());
        let order = Arc::new(Mutex::new(Vec::new()));
        let push = |name| {
            let order = order.clone();
            move || order.lock().map(|mut o| o.push(name)).ok()
        };
        let (release_b, b_released) = oneshot::channel::<()>();
        let (push_b, push_c, push_a) = (push("b"), push("c"), push("a again"));
        let b_task = tokio::spawn(async move {
            b.take().await;
            push_b();
            let _ = b_released.await;
        });
        settle().await;
        let c_task = tokio::spawn(async move {
            c.take().await;
            push_c();
        });
        settle().await;
        let (read_done, read) = oneshot::channel::<()>();
        let a_task = tokio::spawn(async move {
            let _ = a.aside(read).await;
            push_a();
        });
        settle().await;
        let seen = || order.lock().map(|o| o.clone()).unwrap_or_default();
        // a waits on storage: the next arrival computes meanwhile.
        assert_eq!(seen(), ["b"]);
        let _ = read_done.send(());
        settle().await;
        assert_eq!(seen(), ["b"]);
        let _ = release_b.send(());
        for task in [b_task, a_task, c_task] {
            assert!(task.await.is_ok());
        }
        // a arrived before c, so it comes back first.
        assert_eq!(seen(), ["b", "a again", "c"]);
    }

    #[tokio::test]
    async fn a_request_that_gives_up_waiting_leaves_no_turn_behind() {
        let turns = turns(1);
        let (a, b, c) = (Turn::of(&turns), Turn::of(&turns), Turn::of(&turns));
        a.take().await;
        let b_task = tokio::spawn(async move { b.take().await });
        settle().await;
        b_task.abort();
        let _ = b_task.await;
        drop(a);
        // b's place went with it: c finds the turn free.
        tokio::time::timeout(Duration::from_secs(5), c.take())
            .await
            .map_err(|_| "c never got a turn")
            .ok();
        assert!(c.taken());
    }

    #[tokio::test]
    async fn without_a_limit_every_request_may_compute() {
        let turn = Turn::of(&turns(0));
        assert!(turn.taken());
        turn.take().await;
        assert!(Turn::default().taken());
    }
}

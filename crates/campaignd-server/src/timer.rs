//! hyper's timer: sleeps that cost no timer registration while their
//! deadline is far off.
//!
//! hyper makes a sleep per request for the header-read deadline, and
//! hyper-util's `TokioTimer` registers each with tokio's timer wheel: with
//! the wheel's upkeep, ~900 instructions of a 17k-instruction cached GET
//! (`bench/callgrind.sh`, above the 3% such plumbing may cost). Here a sleep
//! is a bare deadline until it is within one [`DeadlineTimer::tick`] of
//! firing, and only then a real tokio sleep, so it fires on time whatever
//! its length.
//!
//! What makes that correct: hyper polls its sleeps from the connection's
//! task, and `serve_http` wakes every connection task at least once per
//! tick, so a far deadline is looked at again before it comes near.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// See the module docs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeadlineTimer {
    tick: Duration,
}

impl DeadlineTimer {
    /// A timer for tasks that are woken at least every `tick`.
    pub(crate) fn new(tick: Duration) -> Self {
        Self { tick }
    }

    /// How often the tasks polling this timer's sleeps must be woken.
    pub(crate) fn tick(self) -> Duration {
        self.tick
    }
}

/// A sleep of [`DeadlineTimer`].
struct Deadline {
    at: Instant,
    tick: Duration,
    /// The registered sleep, once the deadline is within a tick.
    near: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Future for Deadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = Instant::now();
        if now >= self.at {
            return Poll::Ready(());
        }
        if self.near.is_none() && self.at - now <= self.tick {
            self.near = Some(Box::pin(tokio::time::sleep_until(self.at.into())));
        }
        match &mut self.near {
            Some(sleep) => sleep.as_mut().poll(cx),
            // Far off: the task's next tick polls again.
            None => Poll::Pending,
        }
    }
}

impl hyper::rt::Sleep for Deadline {}

impl hyper::rt::Timer for DeadlineTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, at: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Deadline {
            at,
            tick: self.tick,
            near: None,
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, at: Instant) {
        match sleep.as_mut().downcast_mut_pin::<Deadline>() {
            Some(mut deadline) => deadline.set(Deadline {
                at,
                tick: self.tick,
                near: None,
            }),
            None => *sleep = self.sleep_until(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use hyper::rt::Timer as _;

    use super::*;

    #[tokio::test]
    async fn a_sleep_nearer_than_a_tick_fires_on_time_with_no_tick() {
        let timer = DeadlineTimer::new(Duration::from_hours(1));
        let started = Instant::now();
        // Were it left to the (hour-long) tick, this would never end.
        tokio::time::timeout(
            Duration::from_secs(10),
            timer.sleep(Duration::from_millis(30)),
        )
        .await
        .expect("the sleep fired");
        let slept = started.elapsed();
        assert!(slept >= Duration::from_millis(30), "{slept:?}");
    }

    #[tokio::test]
    async fn a_far_sleep_fires_once_ticks_bring_it_near() {
        let timer = DeadlineTimer::new(Duration::from_millis(20));
        let started = Instant::now();
        let mut sleep = timer.sleep(Duration::from_millis(100));
        let mut tick = tokio::time::interval(timer.tick());
        let polls = std::future::poll_fn(|cx| {
            // The connection task's loop: the tick wakes it, it polls hyper.
            while tick.poll_tick(cx).is_ready() {}
            sleep.as_mut().poll(cx)
        });
        tokio::time::timeout(Duration::from_secs(10), polls)
            .await
            .expect("the sleep fired");
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_reset_sleep_waits_for_the_new_deadline() {
        let timer = DeadlineTimer::new(Duration::from_hours(1));
        let started = Instant::now();
        let mut sleep = timer.sleep(Duration::from_millis(5));
        timer.reset(&mut sleep, Instant::now() + Duration::from_millis(40));
        tokio::time::timeout(Duration::from_secs(10), sleep)
            .await
            .expect("the sleep fired");
        assert!(started.elapsed() >= Duration::from_millis(40));
    }
}

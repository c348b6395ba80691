//! Work spread over the machine's cores, in order: the one way the engine runs CPU- or
//! read-bound work (signing, comparing files, checking layouts) on several threads.
//!
//! Nothing run here acts as another user, and nothing runs here while a thread does:
//! [`crate::fs::ActingAs`] changes the supplementary groups, which are the whole process's
//! (glibc's setgroups stops every thread to change them, waiting for one blocked in an fsync),
//! so it is for one thread at a time with no other at work. A caller whose work acts as users
//! does that part on its own thread first, and spreads only the rest (a commit stages a user's
//! files as that user, then syncs them here).

/// `f` of every share of `items`, the results in the order of `items`: the items are cut into
/// one contiguous share per thread the machine runs at once, once there are at least `from` of
/// them (below, starting threads costs more than it saves); otherwise `f` gets them all, on
/// this thread. `f` returns one result per item of its share. A panic in `f` is a bug, and is
/// resumed here.
pub(crate) fn map_shares<T: Send, R: Send>(
    items: Vec<T>,
    from: usize,
    f: impl Fn(Vec<T>) -> Vec<R> + Sync,
) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if threads <= 1 || items.len() < from.max(2) {
        return f(items);
    }
    let per_thread = items.len().div_ceil(threads);
    let mut shares: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        shares.push(items.by_ref().take(per_thread).collect());
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|share| s.spawn(move || f(share)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// `f` of every item of `items`, in order, as [`map_shares`] spreads them.
pub(crate) fn map<T: Send, R: Send>(
    items: Vec<T>,
    from: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    map_shares(items, from, |share| share.into_iter().map(&f).collect())
}

/// `f` of every item of `items`, in order, on up to `workers` threads that each take the next
/// item as soon as they are done with one: for work that mostly waits (an fsync waits for the
/// disk), where more threads than cores keep more of it in flight. A panic in `f` is a bug, and
/// is resumed here.
pub(crate) fn map_waiting<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let workers = workers.min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (next, f) = (&next, &f);
    let work = move || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        // The calling thread is one of the workers: a thread costs about 0.1 ms to start here,
        // a tenth of an fsync, and a small update syncs in three rounds of a few files.
        let handles: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
        let mut done = work();
        for handle in handles {
            done.extend(
                handle
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            );
        }
        done
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order_whether_spread_or_not() {
        for n in [0, 1, 5, 64, 1001] {
            let items: Vec<usize> = (0..n).collect();
            let doubled = map(items.clone(), 16, |i| i * 2);
            assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
            // Each share sees its items in order, and a state kept per share stays in it.
            let running = map_shares(items.clone(), 16, |share| {
                let mut last = None;
                share
                    .into_iter()
                    .map(|i| {
                        let ordered = last.is_none_or(|l| l + 1 == i);
                        last = Some(i);
                        ordered
                    })
                    .collect()
            });
            assert!(running.iter().all(|&o| o), "{n}");
            let waited = map_waiting(&items, 16, |&i| i * 2);
            assert_eq!(waited, doubled, "{n}");
        }
    }
}

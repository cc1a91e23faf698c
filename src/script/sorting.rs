//! `sort`, `sort_by` and `dedup` with a comparator, replacing rhai's own: rhai's call the
//! comparator and drop its errors (a comparator that throws, or runs over budget, leaves the
//! array in some order and the script carries on). These stop at the comparator's first error
//! and return it.

use std::cmp::Ordering;

use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, NativeCallContext, Position};

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// Register the replacements in `engine`'s own namespace, which rhai searches before its
/// packages.
pub fn register(engine: &mut Engine) {
    engine.register_fn("sort", sort_by);
    engine.register_fn("sort_by", sort_by);
    engine.register_fn("dedup", dedup_by);
}

fn fail(message: impl Into<String>) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        message.into().into(),
        Position::NONE,
    ))
}

fn sort_by(ctx: NativeCallContext, array: &mut Array, comparer: FnPtr) -> Fallible<()> {
    let compare = |a: &Dynamic, b: &Dynamic| -> Fallible<Ordering> {
        let result = comparer.call_raw(&ctx, None, [a.clone(), b.clone()])?;
        if let Ok(n) = result.as_int() {
            return Ok(n.cmp(&0));
        }
        match result.as_bool() {
            Ok(true) => Ok(Ordering::Less),
            Ok(false) => Ok(Ordering::Greater),
            Err(kind) => Err(fail(format!(
                "the sort comparator returned a {kind}; it must return an integer (its sign \
                 orders the two items) or a bool (true: the first goes first)"
            ))),
        }
    };
    // Sort positions, so that an error leaves the array as it was.
    let order = merge_sort((0..array.len()).collect(), &mut |i, j| {
        compare(&array[i], &array[j])
    })?;
    let mut items: Vec<Option<Dynamic>> = std::mem::take(array).into_iter().map(Some).collect();
    *array = order
        .into_iter()
        .map(|i| items[i].take().unwrap_or_default())
        .collect();
    Ok(())
}

/// A stable merge sort that stops at the comparator's first error (the standard library's
/// sort cannot stop, and may panic when the comparator is not a total order).
fn merge_sort(
    mut items: Vec<usize>,
    compare: &mut dyn FnMut(usize, usize) -> Fallible<Ordering>,
) -> Fallible<Vec<usize>> {
    if items.len() <= 1 {
        return Ok(items);
    }
    let right = items.split_off(items.len() / 2);
    let left = merge_sort(items, compare)?;
    let right = merge_sort(right, compare)?;
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    while let (Some(l), Some(r)) = (left.peek(), right.peek()) {
        // The left item goes first unless it is strictly after the right one: stable for an
        // integer comparator, and for a bool one (`a <= b`), which cannot say "equal".
        let next = if compare(*l, *r)? == Ordering::Greater {
            right.next()
        } else {
            left.next()
        };
        out.extend(next);
    }
    out.extend(left);
    out.extend(right);
    Ok(out)
}

fn dedup_by(ctx: NativeCallContext, array: &mut Array, comparer: FnPtr) -> Fallible<()> {
    // Decide first, so that an error leaves the array as it was.
    let mut keep = Vec::with_capacity(array.len());
    let mut last: Option<usize> = None;
    for (i, item) in array.iter().enumerate() {
        let duplicate = match last {
            Some(l) => {
                let same = comparer.call_raw(&ctx, None, [array[l].clone(), item.clone()])?;
                same.as_bool().map_err(|kind| {
                    fail(format!(
                        "the dedup comparator returned a {kind}; it must return a bool"
                    ))
                })?
            }
            None => false,
        };
        keep.push(!duplicate);
        if !duplicate {
            last = Some(i);
        }
    }
    let mut keep = keep.into_iter();
    array.retain(|_| keep.next().unwrap_or(true));
    Ok(())
}

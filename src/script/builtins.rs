//! The functions scripts get beyond rhai's standard ones: quantities, durations, `clamp`.

use rhai::{Engine, EvalAltResult, FLOAT, INT, Position};

use crate::units::{duration, quantity};

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn fail(message: impl ToString) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorRuntime(
        message.to_string().into(),
        Position::NONE,
    ))
}

/// Register `parse_quantity`, `format_quantity`, `seconds` and `clamp`.
pub fn register(engine: &mut Engine) {
    engine.register_fn("parse_quantity", |s: &str| -> Fallible<INT> {
        quantity::parse(s).map_err(fail)
    });
    engine.register_fn("parse_quantity", |n: INT| -> INT { n });
    engine.register_fn("parse_quantity", |s: &str, unit: &str| -> Fallible<INT> {
        quantity::parse_in(s, unit).map_err(fail)
    });
    engine.register_fn("parse_quantity", |n: INT, unit: &str| -> Fallible<INT> {
        quantity::parse_in(&n.to_string(), unit).map_err(fail)
    });
    engine.register_fn(
        "format_quantity",
        |n: INT, unit: &str| -> Fallible<String> { quantity::format(n, Some(unit)).map_err(fail) },
    );
    engine.register_fn(
        "format_quantity",
        |n: FLOAT, unit: &str| -> Fallible<String> {
            quantity::format(float_to_int(n.ceil())?, Some(unit)).map_err(fail)
        },
    );
    engine.register_fn("format_quantity", |n: INT| -> Fallible<String> {
        quantity::format(n, None).map_err(fail)
    });
    engine.register_fn("format_quantity", |n: FLOAT| -> Fallible<String> {
        quantity::format(float_to_int(n.ceil())?, None).map_err(fail)
    });
    engine.register_fn("seconds", |s: &str| -> Fallible<INT> {
        let millis = duration::parse_millis(s).map_err(fail)?;
        INT::try_from(millis / 1000).map_err(|_| fail("duration too long"))
    });
    engine.register_fn("seconds", |n: INT| -> INT { n });
    engine.register_fn("clamp", |x: INT, lo: INT, hi: INT| -> Fallible<INT> {
        check_bounds(lo as FLOAT, hi as FLOAT)?;
        Ok(x.clamp(lo, hi))
    });
    engine.register_fn("clamp", clamp_float);
    engine.register_fn("clamp", |x: INT, lo: FLOAT, hi: FLOAT| {
        clamp_float(x as FLOAT, lo, hi)
    });
    engine.register_fn("clamp", |x: FLOAT, lo: INT, hi: INT| {
        clamp_float(x, lo as FLOAT, hi as FLOAT)
    });
    engine.register_fn("clamp", |x: FLOAT, lo: INT, hi: FLOAT| {
        clamp_float(x, lo as FLOAT, hi)
    });
    engine.register_fn("clamp", |x: FLOAT, lo: FLOAT, hi: INT| {
        clamp_float(x, lo, hi as FLOAT)
    });
    engine.register_fn("clamp", |x: INT, lo: INT, hi: FLOAT| {
        clamp_float(x as FLOAT, lo as FLOAT, hi)
    });
    engine.register_fn("clamp", |x: INT, lo: FLOAT, hi: INT| {
        clamp_float(x as FLOAT, lo, hi as FLOAT)
    });
}

fn check_bounds(lo: FLOAT, hi: FLOAT) -> Fallible<()> {
    if lo.is_nan() || hi.is_nan() || lo > hi {
        return Err(fail(format!(
            "clamp: the lower bound {lo} is above the upper bound {hi}"
        )));
    }
    Ok(())
}

fn clamp_float(x: FLOAT, lo: FLOAT, hi: FLOAT) -> Fallible<FLOAT> {
    check_bounds(lo, hi)?;
    if x.is_nan() {
        return Err(fail("clamp: the value is not a number"));
    }
    Ok(x.clamp(lo, hi))
}

fn float_to_int(f: FLOAT) -> Fallible<INT> {
    if f.is_finite() && f.abs() < 9.0e18 {
        Ok(f as INT)
    } else {
        Err(fail(format!("{f} is not a representable quantity")))
    }
}

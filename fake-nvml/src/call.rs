//! The path every exported function takes: read the configuration, refuse calls before a
//! successful init, apply failures a test injected, trace, and keep any panic on this side of
//! the C boundary (a panic unwinding into a C caller is undefined behaviour).

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::abi::{self, Return};
use crate::codes::{self, GPU_IS_LOST, INVALID_ARGUMENT, SUCCESS, UNINITIALIZED, UNKNOWN};
use crate::config::Config;
use crate::device::{self, Gpu};
use crate::out::Status;

/// Successful inits not yet matched by a shutdown; NVML counts them the same way.
static INIT_COUNT: AtomicU32 = AtomicU32::new(0);

pub(crate) fn acquire() {
    INIT_COUNT.fetch_add(1, Ordering::SeqCst);
}

/// Undoes one init; a shutdown with none outstanding answers UNINITIALIZED, as NVML's does.
pub(crate) fn release() -> Status {
    INIT_COUNT
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .map(|_| ())
        .map_err(|_| UNINITIALIZED)
}

fn initialized() -> Status {
    if INIT_COUNT.load(Ordering::SeqCst) > 0 {
        Ok(())
    } else {
        Err(UNINITIALIZED)
    }
}

/// `FAKE_NVML_FAIL_<symbol>` (or, for a GPU, `FAKE_NVML_GPU<i>_FAIL_<symbol>` first).
fn injected(config: &Config, gpu: Option<u32>, symbol: &str) -> Status {
    match config.code(gpu, &format!("FAIL_{symbol}")) {
        Some(code) if code != SUCCESS => Err(code),
        _ => Ok(()),
    }
}

/// What stands between a call and GPU `index`: an index past the count, an injected failure, or
/// the GPU being lost. Shared with lookups that find the GPU themselves (by UUID).
pub(crate) fn gate(config: &Config, symbol: &str, index: u32) -> Status {
    if index >= device::count(config) {
        return Err(INVALID_ARGUMENT);
    }
    injected(config, Some(index), symbol)?;
    if (Gpu { config, index }).lost() {
        return Err(GPU_IS_LOST);
    }
    Ok(())
}

/// A body that panics answers UNKNOWN. Under `panic = "abort"` (the workspace's release
/// profile) the process aborts instead, which still never unwinds into the C caller.
fn run(symbol: &str, args: fmt::Arguments<'_>, body: impl FnOnce(&Config) -> Status) -> Return {
    panic::catch_unwind(AssertUnwindSafe(|| {
        let config = Config::load();
        let code = body(&config).err().unwrap_or(SUCCESS);
        if config.logging() {
            config.note(format_args!(
                "{symbol}({args}) -> {code} {}",
                codes::name(code)
            ));
        }
        code
    }))
    .unwrap_or(UNKNOWN)
}

/// For the init family and shutdown, which must work before init.
pub(crate) fn init(
    symbol: &str,
    args: fmt::Arguments<'_>,
    body: impl FnOnce(&Config) -> Status,
) -> Return {
    run(symbol, args, |config| {
        injected(config, None, symbol)?;
        body(config)
    })
}

/// For calls about the library or the system, not one GPU.
pub(crate) fn system(
    symbol: &str,
    args: fmt::Arguments<'_>,
    body: impl FnOnce(&Config) -> Status,
) -> Return {
    run(symbol, args, |config| {
        initialized()?;
        injected(config, None, symbol)?;
        body(config)
    })
}

/// For calls that name a GPU by index (the handle lookups).
pub(crate) fn index(
    symbol: &str,
    index: u32,
    args: fmt::Arguments<'_>,
    body: impl FnOnce(&Gpu<'_>) -> Status,
) -> Return {
    run(
        symbol,
        format_args!("index={index}{}", Tail(args)),
        |config| {
            initialized()?;
            gate(config, symbol, index)?;
            body(&Gpu { config, index })
        },
    )
}

/// For calls on a device handle.
pub(crate) fn device(
    symbol: &str,
    handle: abi::Device,
    args: fmt::Arguments<'_>,
    body: impl FnOnce(&Gpu<'_>) -> Status,
) -> Return {
    let index = device::index_of(handle);
    let label = match index {
        Some(i) => format!("gpu={i}"),
        None => format!("gpu=<unknown handle {handle:p}>"),
    };
    run(symbol, format_args!("{label}{}", Tail(args)), |config| {
        initialized()?;
        let index = index.ok_or(INVALID_ARGUMENT)?;
        gate(config, symbol, index)?;
        body(&Gpu { config, index })
    })
}

/// For `nvmlErrorString`, which has no status to return but is traced like the rest.
pub(crate) fn trace(symbol: &str, args: fmt::Arguments<'_>) {
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        Config::load().note(format_args!("{symbol}({args})"));
    }));
}

/// Appends a call's own arguments after the GPU, with a separator only when there are some.
struct Tail<'a>(fmt::Arguments<'a>);

impl fmt::Display for Tail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.as_str() == Some("") {
            Ok(())
        } else {
            write!(f, ", {}", self.0)
        }
    }
}

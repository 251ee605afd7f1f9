//! nftables through libnftables (Debian's `libnftables1`), loaded at run time with `dlopen` so
//! that neither building pouch nor running a host without it needs the library. Rules go in as
//! libnftables JSON ([`run_json`]) and come back as JSON with their handles; the text interface
//! ([`run`]) remains for fixed commands and for tests that read listings.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::io;
use std::sync::{Mutex, OnceLock};

type CtxNew = unsafe extern "C" fn(u32) -> *mut c_void;
type CtxFree = unsafe extern "C" fn(*mut c_void);
type CtxBuffer = unsafe extern "C" fn(*mut c_void) -> c_int;
type CtxGet = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type RunCmd = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;
type SetFlags = unsafe extern "C" fn(*mut c_void, u32);

/// `NFT_CTX_OUTPUT_HANDLE`: listings show each rule's `# handle N`.
pub const OUTPUT_HANDLE: u32 = 1 << 3;
/// `NFT_CTX_OUTPUT_JSON`: output is JSON, and so is input (libnftables parses a command buffer
/// as JSON when this flag is set).
pub const OUTPUT_JSON: u32 = 1 << 4;
/// `NFT_CTX_OUTPUT_ECHO`: what a command added is printed back, with its handle.
pub const OUTPUT_ECHO: u32 = 1 << 5;

struct Lib {
    ctx_new: CtxNew,
    ctx_free: CtxFree,
    buffer_output: CtxBuffer,
    buffer_error: CtxBuffer,
    get_output: CtxGet,
    get_error: CtxGet,
    run_cmd: RunCmd,
    set_output_flags: SetFlags,
}

fn lib() -> io::Result<&'static Lib> {
    static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();
    LIB.get_or_init(load)
        .as_ref()
        .map_err(|e| io::Error::new(io::ErrorKind::Unsupported, e.clone()))
}

fn load() -> Result<Lib, String> {
    let mut handle = std::ptr::null_mut();
    for name in [c"libnftables.so.1", c"libnftables.so"] {
        // SAFETY: name is a NUL-terminated string; dlopen has no other preconditions.
        handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if !handle.is_null() {
            break;
        }
    }
    if handle.is_null() {
        return Err("libnftables is not installed (apt-get install libnftables1)".into());
    }
    let sym = |name: &CStr| -> Result<*mut c_void, String> {
        // SAFETY: handle is a live dlopen handle (never closed) and name is NUL-terminated.
        let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
        if p.is_null() {
            Err(format!("libnftables lacks {}", name.to_string_lossy()))
        } else {
            Ok(p)
        }
    };
    // SAFETY: each symbol is the libnftables function of that name, whose C signature the
    // function pointer type matches (nftables/libnftables.h).
    unsafe {
        Ok(Lib {
            ctx_new: std::mem::transmute::<*mut c_void, CtxNew>(sym(c"nft_ctx_new")?),
            ctx_free: std::mem::transmute::<*mut c_void, CtxFree>(sym(c"nft_ctx_free")?),
            buffer_output: std::mem::transmute::<*mut c_void, CtxBuffer>(sym(
                c"nft_ctx_buffer_output",
            )?),
            buffer_error: std::mem::transmute::<*mut c_void, CtxBuffer>(sym(
                c"nft_ctx_buffer_error",
            )?),
            get_output: std::mem::transmute::<*mut c_void, CtxGet>(sym(
                c"nft_ctx_get_output_buffer",
            )?),
            get_error: std::mem::transmute::<*mut c_void, CtxGet>(sym(
                c"nft_ctx_get_error_buffer",
            )?),
            run_cmd: std::mem::transmute::<*mut c_void, RunCmd>(sym(c"nft_run_cmd_from_buffer")?),
            set_output_flags: std::mem::transmute::<*mut c_void, SetFlags>(sym(
                c"nft_ctx_output_set_flags",
            )?),
        })
    }
}

/// Whether libnftables can be loaded on this host.
pub fn available() -> bool {
    lib().is_ok()
}

/// Runs `commands` (nft text syntax, one batch: all or nothing) and returns nft's output.
pub fn run(commands: &str) -> io::Result<String> {
    run_with(commands, 0)
}

/// Runs a libnftables JSON document (`{"nftables": [...]}`, one batch: all or nothing) and
/// returns nft's JSON output: listings, and the echo of added rules with their handles.
pub fn run_json(document: &str) -> io::Result<String> {
    // libnftables falls back to its text parser when the buffer is not loadable JSON, and
    // jansson refuses a NUL escape: refuse it here so that JSON is never read as nft text.
    if !document.trim_start().starts_with('{') || document.contains("\\u0000") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a libnftables JSON document (or one with a NUL character)",
        ));
    }
    run_with(document, OUTPUT_JSON | OUTPUT_ECHO | OUTPUT_HANDLE)
}

/// As [`run`], with nft output flags (for example [`OUTPUT_HANDLE`]).
pub fn run_with(commands: &str, output_flags: u32) -> io::Result<String> {
    // libnftables contexts are not meant to be shared; one call at a time keeps it simple.
    static LOCK: Mutex<()> = Mutex::new(());
    let l = lib()?;
    let cmd = CString::new(commands).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: flags 0 is NFT_CTX_DEFAULT; a null result is checked.
    let ctx = unsafe { (l.ctx_new)(0) };
    if ctx.is_null() {
        return Err(io::Error::other("nft_ctx_new failed"));
    }
    // SAFETY: ctx is a live context until nft_ctx_free below; the buffers returned by the getters
    // are owned by ctx and copied out before it is freed; cmd outlives the call.
    unsafe {
        (l.buffer_output)(ctx);
        (l.buffer_error)(ctx);
        if output_flags != 0 {
            (l.set_output_flags)(ctx, output_flags);
        }
        let rc = (l.run_cmd)(ctx, cmd.as_ptr());
        let text = |p: *const c_char| {
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        let out = text((l.get_output)(ctx));
        let err = text((l.get_error)(ctx));
        (l.ctx_free)(ctx);
        if rc != 0 {
            return Err(io::Error::other(format!("nft: {}", err.trim())));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text, or JSON that libnftables could not load, never reaches its text parser.
    #[test]
    fn run_json_takes_only_json_documents() {
        for bad in [
            "flush ruleset",
            "  add table ip x { }",
            r#"{"nftables": [{"add": {"table": {"family": "ip", "name": "a\u0000b"}}}]}"#,
        ] {
            let e = run_json(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
    }
}

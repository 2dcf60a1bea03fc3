//! The pages' inline styles: trusted constants, written into `<style>` as they are.

/// Styles shared by both pages.
pub(super) const BASE_CSS: &str = "
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--card:#fff;--red:#cf222e;
--red-soft:#ffebe9;--red-line:#ffcecb;--green:#1a7f37;--green-line:#8fd6a2;--blue:#0969da;
color-scheme:light}
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--soft);color:var(--fg);
font:16px/1.6 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,\"Noto Sans\",sans-serif}
code,pre,.error-id{font-family:ui-monospace,SFMono-Regular,\"SF Mono\",Menlo,Consolas,\"Liberation Mono\",monospace}
code{font-size:.875em}
.wrap{max-width:960px;margin:0 auto;padding:40px 24px 56px}
h1,h2,h3,h4{line-height:1.25;margin:0}
a{color:var(--blue)}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:24px 28px;
margin:0 0 20px;box-shadow:0 1px 2px rgba(31,35,40,.05)}
.card p{margin:0 0 12px}
.card p:last-child{margin-bottom:0}
p code,li code,td code{background:var(--soft);border:1px solid var(--line);border-radius:6px;
padding:.1em .35em;overflow-wrap:anywhere}
.muted{color:var(--muted)}
.group{border:1px solid var(--line);border-radius:8px;overflow:hidden;background:var(--card)}
.group details+details{border-top:1px solid var(--line)}
summary{cursor:pointer;list-style:none;display:flex;align-items:center;gap:10px;padding:11px 16px;
font-weight:500}
summary::-webkit-details-marker{display:none}
summary::before{content:\"\";flex:none;border-left:6px solid var(--muted);
border-top:5px solid transparent;border-bottom:5px solid transparent;transition:transform .15s}
details[open]>summary::before{transform:rotate(90deg)}
summary:hover{background:var(--soft)}
.detail-body{padding:2px 16px 16px}
.error-id{font-size:14px;font-weight:600;color:var(--fg)}
footer{color:var(--muted);font-size:14px;text-align:center;margin-top:28px}
footer p{margin:0 0 8px}
@media (max-width:640px){.wrap{padding:20px 12px 40px}.card{padding:18px 16px}}
";

/// Styles of the friendly page.
pub(super) const FRIENDLY_CSS: &str = "
.hero{position:relative;overflow:hidden;background:var(--card);border:1px solid var(--line);
border-radius:12px;padding:30px 28px 22px;margin:0 0 20px;box-shadow:0 1px 2px rgba(31,35,40,.05)}
.hero::before{content:\"\";position:absolute;top:0;left:0;right:0;height:4px;background:var(--red)}
.brand{display:flex;align-items:center;gap:8px;margin:0 0 10px;font-size:13px;font-weight:600;
letter-spacing:.08em;text-transform:uppercase;color:var(--muted)}
.dot{width:8px;height:8px;border-radius:50%;background:var(--red)}
.hero h1{font-size:30px;font-weight:650;letter-spacing:-.015em}
.lede{margin:8px 0 0;color:var(--muted)}
.lede code{color:var(--fg)}
.facts{display:flex;flex-wrap:wrap;gap:10px 36px;margin:20px 0 0;padding:16px 0 0;
border-top:1px solid var(--line)}
.facts dt{font-size:11.5px;font-weight:600;letter-spacing:.07em;text-transform:uppercase;
color:var(--muted)}
.facts dd{margin:2px 0 0;font-size:15px}
.facts div:nth-child(2) code{color:var(--red);font-weight:600}
.card h2{font-size:12.5px;font-weight:700;letter-spacing:.08em;text-transform:uppercase;
color:var(--muted);margin:0 0 12px}
.problem{border-left:4px solid var(--red)}
.solution{border-left:4px solid var(--green)}
.problem pre{background:var(--soft);border:1px solid var(--line);border-radius:8px;
padding:12px 14px;font-size:13px;overflow:auto}
.actors{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:16px;
align-items:start;margin-top:16px}
.actor{border:1px solid var(--line);border-radius:10px;padding:14px 16px 10px;background:#fbfcfd}
.actor h3{font-size:14px;font-weight:650;margin:0 0 10px}
.steps{list-style:none;margin:0;padding:0}
.step{position:relative;display:grid;grid-template-columns:22px 1fr auto;gap:12px;align-items:start;
padding:8px;margin:0 -8px;border-radius:8px}
.step:not(:last-child)::before{content:\"\";position:absolute;left:18px;top:32px;bottom:-8px;
width:2px;background:var(--line)}
.step.performed:not(:last-child)::before{background:var(--green-line)}
.mark{position:relative;z-index:1;width:22px;height:22px;border-radius:50%;display:flex;
align-items:center;justify-content:center;font-size:13px;font-weight:700;line-height:1;margin-top:1px}
.mark.performed{background:var(--green);color:#fff}
.mark.errored{background:var(--red);color:#fff}
.mark.in-progress{border:2.5px solid var(--line);border-top-color:var(--blue);
animation:spin .9s linear infinite}
.mark.not-started{border:2px dashed #b8c2cc;background:var(--card)}
@keyframes spin{to{transform:rotate(360deg)}}
@media (prefers-reduced-motion:reduce){.mark.in-progress{animation:none}}
.what{min-width:0}
.desc{display:block;font-size:14.5px;line-height:1.4}
.meta{display:flex;flex-wrap:wrap;align-items:center;gap:4px 8px;margin-top:3px}
.step .name{font-size:11.5px;color:var(--muted);background:none;border:0;padding:0;overflow-wrap:anywhere}
.time{padding-top:2px;font-size:12.5px;color:var(--muted);font-variant-numeric:tabular-nums;
white-space:nowrap}
.step.not-started .desc{color:var(--muted)}
.step.failed{background:var(--red-soft);box-shadow:inset 0 0 0 1px var(--red-line)}
.step.failed .desc{color:var(--red);font-weight:600}
.step.failed .time{color:var(--red)}
.badge{display:inline-block;padding:0 7px;border-radius:999px;background:var(--red);
color:#fff;font-size:11px;font-weight:600;line-height:1.6;white-space:nowrap}
.console{margin:0;background:#0d1117;color:#e6edf3;border-radius:8px;padding:16px 18px;
font-size:13px;line-height:1.55;overflow:auto;max-height:560px;white-space:pre}
.console.empty{color:#8b949e;font-style:italic}
.diagnostics h3{font-size:15px;font-weight:650;margin:22px 0 10px}
.diagnostics h2+h3{margin-top:0}
.pid{font-weight:400;font-size:13px;color:var(--muted);margin-left:4px}
.diagnostics h4{font-size:13px;margin:10px 0 6px}
.detail-body pre{margin:0;background:var(--soft);border:1px solid var(--line);border-radius:6px;
padding:12px 14px;font-size:12.5px;line-height:1.5;overflow:auto;max-height:380px}
table{width:100%;border-collapse:collapse;font-size:14px}
th,td{text-align:left;padding:8px 10px;border-top:1px solid var(--line);vertical-align:top}
tr:first-child th,tr:first-child td{border-top:0}
th{width:32%;font-weight:500;color:var(--muted)}
footer .error-id{font-size:13px}
@media (max-width:640px){.hero{padding:24px 18px 18px}.hero h1{font-size:24px}
.actor{padding:12px 12px 8px}}
";

/// Styles of the terse page.
pub(super) const TERSE_CSS: &str = "
.wrap{max-width:680px;padding-top:12vh}
.sorry{text-align:center;padding:44px 40px 32px}
.icon{width:56px;height:56px;margin:0 auto 20px;border-radius:50%;background:var(--red-soft);
color:var(--red);display:flex;align-items:center;justify-content:center;font-size:28px;font-weight:700}
.sorry h1{font-size:24px;font-weight:650;letter-spacing:-.01em;margin:0 0 10px}
.sorry>p{color:var(--muted);margin:0}
.admin{margin-top:32px;text-align:left}
.admin .detail-body p{font-size:14.5px;color:var(--fg)}
.admin .error-id{font-size:15px;padding:10px 12px;background:var(--soft);border:1px solid var(--line);
border-radius:6px}
";

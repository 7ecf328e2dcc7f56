"""The dashboard's HTML: the list of studies, a study's live table, one trial, a message.

Every value that comes from a study — names, parameters, messages — is escaped here with
``html.escape`` or, on the live study page, written by the page's script with
``textContent``, never parsed as HTML, so a trial message holding ``<script>`` shows as text.
The pages fetch nothing from the network: style and script are inline. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from html import escape

from kubetune.api.attributes import RESTORE_ATTRIBUTE, LineageAttribute
from kubetune.api.trial import trial_name
from kubetune.dashboard.curve import curve_svg
from kubetune.dashboard.view import DEFAULT_PAGE_SIZE
from kubetune.figures import trial_figure, trial_metrics
from kubetune.record import RecordedTrial, StudyOverview, StudyRecord

POLL_SECONDS = 3
"""How often the study page asks for the table again, so it follows a running study."""

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
a{color:#1f5fa8}table{border-collapse:collapse;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left;white-space:nowrap}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}
td.msg{max-width:28rem;overflow:hidden;text-overflow:ellipsis}
.Succeeded{color:#2a7d2a}.Failed{color:#b52020}.Pruned{color:#9a6b00}.Running{color:#1f5fa8}
.notice,.empty{background:#fff6d6;padding:.5rem;border-radius:4px}
.error{background:#fde2e2;padding:.75rem;border-radius:4px}
.controls{margin:.75rem 0}.controls input,.controls select{margin-right:.75rem}#filter{width:24rem}
pre{white-space:pre-wrap;background:#f7f7f7;padding:.5rem}
"""


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def quote(segment: str) -> str:
    """``segment`` percent-encoded for one path segment of a URL (the server unquotes it)."""
    return "".join(
        c if c in _UNRESERVED else "".join(f"%{b:02X}" for b in c.encode()) for c in segment
    )


def layout(title: str, body: str, script: str = "") -> str:
    """A complete page; ``title`` is escaped, ``body`` and ``script`` are trusted HTML/JS."""
    tail = f"<script>{script}</script>" if script else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)} · kubetune</title><style>{STYLE}</style></head>"
        f'<body><p><a href="/">kubetune studies</a></p>{body}{tail}</body></html>'
    )


def message_page(title: str, message: str) -> str:
    """A page saying what went wrong (unknown study, unreachable cluster) and what to do."""
    return layout(title, f'<h1>{escape(title)}</h1><p class="error">{escape(message)}</p>')


def studies_page(studies: list[StudyOverview], where: str) -> str:
    """The list of studies, with phase, progress and best value."""
    if not studies:
        body = (
            f'<h1>Studies</h1><p class="empty">No studies in {escape(where)} yet. Start one '
            "with <code>kubetune run STUDY.yaml</code> (or <code>kubectl apply</code> it on a "
            "cluster); this page lists it once it exists.</p>"
        )
        return layout("Studies", body)
    rows = "".join(
        f'<tr><td><a href="/studies/{quote(s.name)}">{escape(s.name)}</a></td>'
        f'<td class="{escape(s.phase)}">{escape(s.phase)}</td>'
        f"<td>{s.finished}/{s.max_trials} ({s.total} started)</td>"
        f"<td>{escape(number(s.best_value))}</td></tr>"
        for s in studies
    )
    body = (
        f'<h1>Studies</h1><p>{escape(where)}</p><table id="studies"><thead><tr><th>study</th>'
        f"<th>phase</th><th>finished</th><th>best value</th></tr></thead><tbody>{rows}</tbody>"
        "</table>"
    )
    return layout("Studies", body)


def number(value: float | None) -> str:
    """A value as a person reads it: 4 significant digits, NaN and ±inf spelled, — if none."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def study_page(name: str, report_available: bool) -> str:
    """The live study page: a header and a trial table the script fills and refreshes."""
    report = f' · <a href="/studies/{quote(name)}/report">report</a>' if report_available else ""
    body = f"""
<h1 id="title">{escape(name)}</h1>
<p id="source"></p><p id="progress"></p><p id="notice" class="notice" hidden></p>
<p><a href="/api/studies/{quote(name)}/trials?limit=1000">JSON</a>{report}</p>
<div class="controls">
<input id="filter" type="search" placeholder="filter: text in parameters, phase, message">
<select id="phase"><option value="">every phase</option>
{"".join(f"<option>{p}</option>" for p in _PHASES)}</select>
<label>top <input id="top" type="number" min="1" style="width:5rem"></label>
<button id="prev">‹ previous</button> <span id="range"></span> <button id="next">next ›</button>
</div>
<table id="trials"><thead><tr></tr></thead><tbody></tbody></table>"""
    settings = json.dumps(
        {"study": name, "pollMs": POLL_SECONDS * 1000, "limit": DEFAULT_PAGE_SIZE}
    )
    # "</" inside a JSON string would end the script element early: escape its slash.
    settings = settings.replace("</", "<\\/")
    return layout(name, body, f"const SETTINGS={settings};{_STUDY_SCRIPT}")


_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Pruned", "Stopped")

_STUDY_SCRIPT = r"""
const state={sort:"trial",desc:false,offset:0};
const base="/api/studies/"+encodeURIComponent(SETTINGS.study);
const $=id=>document.getElementById(id);
function cell(v){if(v===null||v===undefined)return"—";
 if(typeof v==="number")return Number.isInteger(v)?String(v):v.toPrecision(6).replace(/\.?0+$/,"");
 return String(v);}
function query(){const p=new URLSearchParams({sort:state.sort,desc:state.desc?"1":"0",
 offset:String(state.offset),limit:String(SETTINGS.limit),q:$("filter").value,
 phase:$("phase").value,top:$("top").value});return p.toString();}
async function refresh(){
 try{
  const [study,table]=await Promise.all([fetch(base).then(r=>r.json()),
   fetch(base+"/trials?"+query()).then(r=>r.json())]);
  if(study.error||table.error){$("notice").hidden=false;
   $("notice").textContent=study.error||table.error;return;}
  showStudy(study);showTable(table);
 }catch(e){$("notice").hidden=false;$("notice").textContent="cannot reach the dashboard: "+e;}
}
function showStudy(s){
 $("source").textContent=s.source;
 const counts=Object.entries(s.counts).map(([k,v])=>k+" "+v).join(", ");
 let best="";if(s.best){best=" · best: trial "+s.best.index+" "+
  Object.entries(s.best.values).map(([k,v])=>k+"="+cell(v)).join(", ");}
 $("progress").textContent=s.finished+"/"+s.maxTrials+" finished ("+(counts||"no trials")+")"+best;
 $("notice").hidden=!s.notice;$("notice").textContent=s.notice||"";
}
function showTable(t){
 const head=$("trials").tHead.rows[0];head.replaceChildren();
 for(const c of t.columns){const th=document.createElement("th");th.dataset.key=c.key;
  th.textContent=c.label+(c.key===t.sort?(t.descending?" ▼":" ▲"):"");
  th.addEventListener("click",()=>{state.desc=state.sort===c.key?!state.desc:false;
   state.sort=c.key;state.offset=0;refresh();});head.appendChild(th);}
 const msg=document.createElement("th");msg.textContent="message";head.appendChild(msg);
 const rows=t.rows.map(r=>{const tr=document.createElement("tr");tr.dataset.index=r.index;
  r.cells.forEach((v,i)=>{const td=document.createElement("td");
   if(i===0){const a=document.createElement("a");
    a.href="/studies/"+encodeURIComponent(SETTINGS.study)+"/trials/"+r.index;
    a.textContent=cell(v);td.appendChild(a);}else{td.textContent=cell(v);}
   if(t.columns[i].kind==="phase")td.className=String(v);tr.appendChild(td);});
  const td=document.createElement("td");td.className="msg";td.textContent=r.message||"";
  td.title=r.message||"";tr.appendChild(td);return tr;});
 $("trials").tBodies[0].replaceChildren(...rows);
 const last=Math.min(t.offset+t.rows.length,t.matched);
 $("range").textContent=(t.matched?(t.offset+1)+"–"+last:"0")+" of "+t.matched+
  " matching ("+t.total+" trials)";
 $("prev").disabled=t.offset===0;$("next").disabled=last>=t.matched;
}
function restart(){state.offset=0;refresh();}
$("filter").addEventListener("input",restart);$("phase").addEventListener("change",restart);
$("top").addEventListener("input",restart);
$("prev").addEventListener("click",()=>{state.offset=Math.max(0,state.offset-SETTINGS.limit);refresh();});
$("next").addEventListener("click",()=>{state.offset+=SETTINGS.limit;refresh();});
refresh();setInterval(refresh,SETTINGS.pollMs);
"""


PLOTLY_PATH = "/static/plotly.min.js"
"""Where the dashboard serves the plotly.js bundle the report embeds (nothing is fetched
from the network): its trial pages draw with the report's library and ``draw.js``."""
DRAW_PATH = "/static/draw.js"


def trial_page(record: StudyRecord, trial: RecordedTrial, plotted: bool = False) -> str:
    """One trial: parameters, metrics, attributes, intermediate-values curve, failure. The
    curve is drawn by plotly.js when ``plotted`` (the dashboard serves it: the report extra is
    installed), else as a plain SVG chart."""
    study = quote(record.name)
    curve = _curve_html(record, trial, plotted)
    failure = (
        f"<h2>Why it ended</h2><p>{escape(trial.reason or '')}</p>"
        f"<pre>{escape(trial.message)}</pre>"
        if trial.message
        else ""
    )
    body = (
        f'<h1><a href="/studies/{study}">{escape(record.name)}</a> · trial {trial.index}</h1>'
        f'<p class="{escape(trial.phase.value)}">{escape(trial.phase.value)}'
        f"{' · ' + escape(trial.reason) if trial.reason else ''}"
        f"{f' · {trial.seconds:.1f} s' if trial.seconds is not None else ''}"
        f"{f' · exit code {trial.exit_code}' if trial.exit_code is not None else ''}</p>"
        f"{failure}"
        f"<h2>Parameters</h2>{_pairs(trial.params)}"
        f"<h2>Metrics</h2>{_pairs(trial.values)}"
        f"{curve}"
        f"<h2>Attributes</h2>{_pairs(trial.attributes, _trial_links(record, trial))}"
    )
    return layout(f"{record.name} trial {trial.index}", body)


def _curve_html(record: StudyRecord, trial: RecordedTrial, plotted: bool) -> str:
    if not plotted:
        svg = curve_svg(trial.intermediate, trial_metrics(record, trial))
        return f"<h2>Intermediate values</h2>{svg}"
    figure = json.dumps([trial_figure(record, trial).to_json()], allow_nan=False)
    figure = figure.replace("<", "\\u003c")  # no text in it can end the script element
    return (
        f'<div id="kubetune-trial"></div><script src="{PLOTLY_PATH}"></script>'
        f'<script src="{DRAW_PATH}"></script>'
        f'<script>kubetune.draw(document.getElementById("kubetune-trial"),{figure});</script>'
    )


LINKED_ATTRIBUTES = (LineageAttribute.PARENT, RESTORE_ATTRIBUTE)
"""Attributes that name another trial of the study: shown as links to its page."""


def _trial_links(record: StudyRecord, trial: RecordedTrial) -> dict[str, str]:
    """Attribute → trial page, for the attributes naming a trial of this study (PBT's parent,
    the checkpoint restored from), so a population's lineage can be followed by clicking."""
    pages = {trial_name(record.name, t.index): t.index for t in record.trials}
    links = {}
    for key in LINKED_ATTRIBUTES:
        named = trial.attributes.get(key)
        if isinstance(named, str) and named in pages:
            links[key] = f"/studies/{quote(record.name)}/trials/{pages[named]}"
    return links


def _pairs(items: Mapping[str, object], links: Mapping[str, str] | None = None) -> str:
    if not items:
        return '<p class="empty">none</p>'
    links = links or {}

    def shown(key: str, value: object) -> str:
        text = escape(_shown(value))
        return f'<a href="{links[key]}">{text}</a>' if key in links else text

    rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{shown(str(k), v)}</td></tr>" for k, v in items.items()
    )
    return f"<table>{rows}</table>"


def _shown(value: object) -> str:
    return number(value) if isinstance(value, float) else str(value)

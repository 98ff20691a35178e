#include "serve/web_page.h"

namespace meshlm {

const std::string& web_page() {
  static const std::string page = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>meshlm serve</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;max-width:1100px;color:#222}
h1{font-size:20px;margin:0 0 4px} .sub{color:#666;margin-bottom:16px}
#mesh{display:grid;gap:10px;margin:12px 0}
.dev{border:1px solid #bbb;border-radius:6px;padding:8px}
.dev b{display:block;margin-bottom:4px}
.bar{display:flex;height:14px;border-radius:3px;overflow:hidden;background:#eee;margin:4px 0}
.bar span{height:100%}
.legend span{display:inline-block;width:10px;height:10px;margin:0 3px 0 10px;border-radius:2px}
.kv{font-variant-numeric:tabular-nums}
#stats{font-variant-numeric:tabular-nums;margin:10px 0}
textarea{width:100%;height:70px;font:inherit}
#out{white-space:pre-wrap;border:1px solid #ddd;border-radius:6px;padding:10px;min-height:60px;background:#fafafa}
button{font:inherit;padding:4px 14px}
</style></head><body>
<h1>meshlm serve</h1><div class="sub" id="model">loading…</div>
<div class="legend" id="legend"></div>
<div id="mesh"></div>
<div id="stats"></div>
<h2 style="font-size:16px">Prompt</h2>
<textarea id="prompt">Once upon a time</textarea>
<div>max_tokens <input id="max" type="number" value="64" min="1" style="width:60px">
temperature <input id="temp" type="number" value="0" step="0.1" min="0" style="width:60px">
<button id="go">Generate</button></div>
<div id="out"></div>
<script>
const colors={weights:"#4e79a7",kv_cache:"#f28e2b",activations:"#59a14f",comm:"#b07aa1",reserve:"#bab0ac",free:"#eee"};
let last=null;
function gib(b){return (b/1048576).toFixed(1)+" MiB"}
async function refresh(){
  const r=await fetch("/v1/mesh"); const m=await r.json();
  document.getElementById("model").textContent=m.model+" on mesh "+m.mesh+" ("+m.devices.length+" devices, weights "+m.weight_dtype+", KV "+m.kv_dtype+", block size "+m.block_size+")";
  document.getElementById("legend").innerHTML=Object.keys(colors).map(k=>'<span style="background:'+colors[k]+'"></span>'+k).join("");
  const grid=document.getElementById("mesh"); grid.style.gridTemplateColumns="repeat("+m.mp+",1fr)";
  grid.innerHTML=m.devices.map(d=>{
    let used=0; const parts=Object.entries(d.memory).map(([k,v])=>{used+=v;return '<span title="'+k+' '+gib(v)+'" style="width:'+(100*v/d.capacity)+'%;background:'+(colors[k]||"#999")+'"></span>'}).join("");
    const rep=d.dp, L=m.live, tot=L.kv_blocks_used[rep]+L.kv_blocks_free[rep];
    return '<div class="dev"><b>device '+d.rank+' (dp '+d.dp+', mp '+d.mp+')</b><div class="bar">'+parts+'</div>'+
      gib(used)+' of '+gib(d.capacity)+'<div class="kv">KV blocks '+L.kv_blocks_used[rep]+' / '+tot+' used · running '+L.running[rep]+' · waiting '+L.waiting[rep]+'</div></div>'}).join("");
  const now=performance.now(), L=m.live; let tps="";
  if(last){tps=((L.generation_tokens_total-last.g)/((now-last.t)/1000)).toFixed(1)}
  last={t:now,g:L.generation_tokens_total};
  const hit=L.prefix_cache_queried_tokens?(100*L.prefix_cache_hit_tokens/L.prefix_cache_queried_tokens).toFixed(1)+"%":"–";
  document.getElementById("stats").textContent="throughput "+(tps||"…")+" tok/s · generated "+L.generation_tokens_total+" · prompt tokens "+L.prompt_tokens_total+" · prefix cache hits "+hit;
}
document.getElementById("go").onclick=async()=>{
  const out=document.getElementById("out"); out.textContent="";
  const body={prompt:document.getElementById("prompt").value,max_tokens:+document.getElementById("max").value,temperature:+document.getElementById("temp").value,stream:true};
  const r=await fetch("/v1/completions",{method:"POST",headers:{"Content-Type":"application/json"},body:JSON.stringify(body)});
  if(!r.ok){out.textContent="error: "+(await r.json()).error.message;return}
  const rd=r.body.getReader(),dec=new TextDecoder();let buf="";
  for(;;){const {value,done}=await rd.read(); if(done)break; buf+=dec.decode(value,{stream:true});
    let i; while((i=buf.indexOf("\n\n"))>=0){const ev=buf.slice(0,i);buf=buf.slice(i+2);
      if(!ev.startsWith("data: "))continue; const d=ev.slice(6); if(d==="[DONE]"){out.dataset.done="1";continue}
      const c=JSON.parse(d); if(c.choices.length)out.textContent+=c.choices[0].text;}}
};
refresh(); setInterval(refresh,1000);
</script></body></html>
)HTML";
  return page;
}

}  // namespace meshlm

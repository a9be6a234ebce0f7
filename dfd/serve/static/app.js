// Upload page: each chosen or dropped image is sent on its own to /api/classify, so one
// bad file shows its own error and the rest still get their verdicts. With "Show where it
// looks fake" on, each image is also explained (/api/classify?explain=1) and its heat map
// laid over the thumbnail, on the part of the photo the model judged.
"use strict";

const form = document.getElementById("upload");
const input = document.getElementById("file");
const drop = document.getElementById("drop");
const results = document.getElementById("results");
const template = document.getElementById("result-template");
const explainToggle = document.getElementById("explain");
document.getElementById("explain-toggle").hidden = false;  // the toggle needs this script
document.body.classList.toggle("explaining", explainToggle.checked);

function percent(p) {
  return (100 * p).toFixed(1) + "%";
}

async function ask(file, explain) {
  const body = new FormData();
  body.append("file", file);
  try {
    const response = await fetch("/api/classify" + (explain ? "?explain=1" : ""),
                                 {method: "POST", body});
    return await response.json();
  } catch (e) {
    return {error: "no answer from the server (" + e.message + ")"};
  }
}

// Each heat map covers the crop the model judged ([x0, y0, x1, y1] in the photo's pixels),
// wherever the thumbnail's object-fit puts that part of the photo.
function placeHeats(item) {
  const thumb = item.querySelector(".thumb");
  if (!thumb || !thumb.naturalWidth) {
    return;
  }
  const width = thumb.clientWidth, height = thumb.clientHeight;
  const fit = getComputedStyle(thumb).objectFit === "contain" ? Math.min : Math.max;
  const scale = fit(width / thumb.naturalWidth, height / thumb.naturalHeight);
  const left = (width - thumb.naturalWidth * scale) / 2;
  const top = (height - thumb.naturalHeight * scale) / 2;
  for (const heat of item.querySelectorAll(".heat")) {
    const [x0, y0, x1, y1] = JSON.parse(heat.dataset.crop);
    heat.style.left = (left + x0 * scale) + "px";
    heat.style.top = (top + y0 * scale) + "px";
    heat.style.width = ((x1 - x0) * scale) + "px";
    heat.style.height = ((y1 - y0) * scale) + "px";
    heat.classList.add("placed");
  }
}

// One heat map per judged crop: the whole image's, or each face's once faces are judged.
function explanations(answer) {
  return [answer.explain, ...(answer.faces || []).map((face) => face.explain)]
    .filter(Boolean);
}

function showHeats(item, explains) {
  item.dataset.explained = "yes";
  item.dataset.hottest = explains.map(
    (e) => e.hottest === null ? "" : e.hottest.join(",")).join(";");
  const box = item.querySelector(".thumbbox");
  if (!box) {  // no thumbnail to lay them over
    return;
  }
  box.querySelectorAll(".heat").forEach((old) => old.remove());
  for (const explain of explains) {
    const heat = document.createElement("img");
    heat.className = "heat";
    heat.alt = "where it looks fake";
    heat.dataset.crop = JSON.stringify(explain.crop);
    heat.src = explain.png;
    heat.title = explain.hottest === null
      ? "No part of this crop lowers P(fake) when greyed out"
      : "Red: greying this part out lowers P(fake) most (by up to " +
        explain.max_drop.toFixed(3) + ")";
    box.append(heat);
  }
  const thumb = item.querySelector(".thumb");
  if (thumb && !thumb.complete) {
    thumb.addEventListener("load", () => placeHeats(item), {once: true});
  } else {
    placeHeats(item);
  }
}

async function explainLater(item) {
  item.dataset.explained = "asking";
  const explains = explanations(await ask(item.file, true));
  if (explains.length) {
    showHeats(item, explains);
  } else {
    item.dataset.explained = "failed";
  }
}

// One box per judged face over the thumbnail, placed in percent of the photo's own pixels
// (the API's boxes), coloured by the face's verdict; each carries its verdict and P(fake).
async function drawFaces(item, thumb, faces) {
  try {
    await thumb.decode();
  } catch (e) {
    return;  // the browser cannot show this file: nothing to draw on
  }
  const width = thumb.naturalWidth;
  const height = thumb.naturalHeight;
  faces.forEach((face, index) => {
    const [x0, y0, x1, y1] = face.box;
    const box = document.createElement("div");
    box.className = "face " + face.verdict;
    box.style.left = (100 * x0 / width) + "%";
    box.style.top = (100 * y0 / height) + "%";
    box.style.width = (100 * (x1 - x0) / width) + "%";
    box.style.height = (100 * (y1 - y0) / height) + "%";
    box.dataset.verdict = face.verdict;
    box.dataset.pFake = face.p_fake;
    box.title = "face " + (index + 1) + ": " + face.verdict + ", P(fake) " +
      face.p_fake.toFixed(3);
    thumb.parentElement.appendChild(box);
  });
}

async function classify(file) {
  const item = template.content.firstElementChild.cloneNode(true);
  item.file = file;
  item.querySelector(".name").textContent = file.name;
  const thumb = item.querySelector(".thumb");
  thumb.src = URL.createObjectURL(file);
  thumb.onerror = () => item.querySelector(".thumbbox").remove();  // the browser cannot show it
  results.prepend(item);
  const answer = await ask(file, explainToggle.checked);
  item.classList.remove("pending");
  const verdict = item.querySelector(".verdict");
  const detail = item.querySelector(".detail");
  if (answer.error) {
    item.classList.add("failed");
    verdict.textContent = "Error";
    detail.textContent = answer.error;
    item.querySelector(".bar").remove();
    return;
  }
  const faces = answer.faces || [];
  item.dataset.judged = answer.judged || "";
  if (answer.p_fake === null) {  // faces on and none found: no verdict
    item.classList.add("no-face");
    verdict.textContent = "No face";
    detail.textContent = "no face found, " + answer.ms.toFixed(1) + " ms";
    item.querySelector(".bar").remove();
    return;
  }
  item.classList.add(answer.verdict);
  item.dataset.pFake = answer.p_fake;
  verdict.textContent = answer.verdict.charAt(0).toUpperCase() + answer.verdict.slice(1);
  item.querySelector(".bar div").style.width = percent(answer.p_fake);
  const judged = answer.judged === "faces" ?
    ", " + faces.length + " face" + (faces.length === 1 ? "" : "s") + " judged, the most " +
    "suspicious decides" : (answer.judged ? ", judged: " + answer.judged : "");
  const band = answer.uncertain ? ", uncertain between " + answer.uncertain[0].toFixed(3) +
    " and " + answer.uncertain[1].toFixed(3) : "";
  detail.textContent = "P(fake) " + answer.p_fake.toFixed(3) + " (threshold " +
    answer.threshold + band + "), " + answer.ms.toFixed(1) + " ms, " + answer.model.name +
    " " + answer.model.precision + judged + (answer.note ? ". Note: " + answer.note : "");
  if (explanations(answer).length) {
    showHeats(item, explanations(answer));
  } else if (explainToggle.checked) {  // switched on while this one was on its way
    explainLater(item);
  }
  await drawFaces(item, thumb, faces);
}

explainToggle.addEventListener("change", () => {
  document.body.classList.toggle("explaining", explainToggle.checked);
  if (!explainToggle.checked) {
    return;
  }
  for (const item of results.querySelectorAll(
    ".result.fake, .result.real, .result.uncertain")) {
    if (item.file && !item.dataset.explained) {
      explainLater(item);
    }
  }
});

function classifyAll(files) {
  for (const file of files) {
    classify(file);
  }
}

input.addEventListener("change", () => {
  classifyAll(input.files);
  input.value = "";
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  classifyAll(input.files);
});
for (const name of ["dragenter", "dragover"]) {
  drop.addEventListener(name, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
}
for (const name of ["dragleave", "drop"]) {
  drop.addEventListener(name, () => drop.classList.remove("over"));
}
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  classifyAll(event.dataTransfer.files);
});

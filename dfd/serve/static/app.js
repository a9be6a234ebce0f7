// Upload page: each chosen or dropped image is sent on its own to /api/classify, so one
// bad file shows its own error and the rest still get their verdicts.
"use strict";

const form = document.getElementById("upload");
const input = document.getElementById("file");
const drop = document.getElementById("drop");
const results = document.getElementById("results");
const template = document.getElementById("result-template");

function percent(p) {
  return (100 * p).toFixed(1) + "%";
}

async function classify(file) {
  const item = template.content.firstElementChild.cloneNode(true);
  item.querySelector(".name").textContent = file.name;
  const thumb = item.querySelector(".thumb");
  thumb.src = URL.createObjectURL(file);
  thumb.onerror = () => thumb.remove();  // not something the browser can show
  results.prepend(item);
  const body = new FormData();
  body.append("file", file);
  let answer;
  try {
    const response = await fetch("/api/classify", {method: "POST", body});
    answer = await response.json();
  } catch (e) {
    answer = {error: "no answer from the server (" + e.message + ")"};
  }
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
  item.classList.add(answer.verdict);
  item.dataset.pFake = answer.p_fake;
  verdict.textContent = answer.verdict === "fake" ? "Fake" : "Real";
  item.querySelector(".bar div").style.width = percent(answer.p_fake);
  detail.textContent = "P(fake) " + answer.p_fake.toFixed(3) + " (threshold " +
    answer.threshold + "), " + answer.ms.toFixed(1) + " ms, " + answer.model.name + " " +
    answer.model.precision;
}

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

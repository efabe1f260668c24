"use strict";
// Shows why the login form came back.
document.addEventListener("DOMContentLoaded", () => {
  if (new URLSearchParams(location.search).get("failed"))
    document.getElementById("failed").hidden = false;
});

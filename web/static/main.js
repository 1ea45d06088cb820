// The browser app's entry: each page starts its own part.

import { startFiles } from "./files.js";
import { startDevices } from "./devices.js";

const page = document.body.dataset.page;
if (page === "files") startFiles();
else if (page === "devices") startDevices();

// Starts govuk-frontend's components (the pages work without it): a file, not an inline
// script, so that the Content-Security-Policy needs no 'unsafe-inline'.
import { initAll } from "./govuk/govuk-frontend.min.js";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();

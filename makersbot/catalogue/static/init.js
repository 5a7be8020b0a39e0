// Progressive enhancement only: every page works without it (the mobile menu, skip link
// focus). GOV.UK Frontend starts only where the page marked itself supported.
import { initAll } from "./govuk/govuk-frontend.min.js";

initAll();

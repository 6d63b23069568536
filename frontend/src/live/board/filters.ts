// The board's filters are a plain GET form, rendered by the server; with script,
// a choice applies at once, and the custom time fields show only when chosen.
import { ApiError, messageOf } from "../../common/client";
import { dropEmptyFields } from "../../common/forms";

const ATTR = "attr.";

export function autoSubmit(form: HTMLElement | null): void {
  if (!(form instanceof HTMLFormElement)) return;
  const period = form.elements.namedItem("period");
  const custom = form.querySelector<HTMLElement>("[data-custom-period]");
  const sync = () => {
    if (custom && period instanceof HTMLSelectElement) custom.hidden = period.value !== "custom";
  };
  sync();
  form.addEventListener("change", (event) => {
    const target = event.target;
    sync();
    // Custom dates are applied with the button: half a range is no filter.
    if (target instanceof HTMLInputElement && target.type === "datetime-local") return;
    if (target instanceof HTMLSelectElement && target.name === "period" && target.value === "custom") return;
    // Typed filters apply with Enter or the button, not on leaving the field.
    if (target instanceof HTMLInputElement && target.type !== "checkbox") return;
    // Another workflow has other search attributes: the old ones' values go.
    if (target instanceof HTMLSelectElement && target.name === "workflow") {
      for (const input of form.querySelectorAll<HTMLInputElement>(`input[name^="${ATTR}"]`)) input.value = "";
    }
    form.requestSubmit();
  });
  dropEmptyFields(form);
}

/** What went wrong, in words; a refusal of the filters is also shown by each field it
 * names (the form's ``[data-error-for]`` lines). */
export function problemOf(err: unknown): string {
  if (err instanceof ApiError && err.status === 400) {
    const form = document.getElementById("board-filters");
    for (const issue of err.errors) {
      const line = issue.field ? form?.querySelector<HTMLElement>(`[data-error-for="${CSS.escape(issue.field)}"]`) : null;
      if (!line) continue;
      line.textContent = issue.message;
      line.hidden = false;
      const input = form?.querySelector<HTMLElement>(`[name="${CSS.escape(issue.field!)}"]`);
      input?.setAttribute("aria-invalid", "true");
      input?.setAttribute("aria-describedby", line.id);
    }
  }
  return messageOf(err);
}

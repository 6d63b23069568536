// The board's filters are a plain GET form, rendered by the server; with script,
// a choice applies at once, and the custom time fields show only when chosen.
import { dropEmptyFields } from "../../common/forms";

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
    form.requestSubmit();
  });
  dropEmptyFields(form);
}

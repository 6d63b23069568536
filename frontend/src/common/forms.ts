// What every GET filter form does with script: its empty fields stay out of the address,
// so a link to a filtered list says only the filters it has.
export function dropEmptyFields(form: HTMLFormElement): void {
  form.addEventListener("formdata", (event) => {
    for (const [key, value] of [...event.formData.entries()]) {
      if (value === "") event.formData.delete(key);
    }
  });
}

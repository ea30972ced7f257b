"""`python manage.py exportreview --review ID [--format csv|json|html] [--output FILE]`
and `exportreview --review ID --verify FILE.json`."""

from django.core.management.base import BaseCommand, CommandError

from integrations.reviews.evidence import FORMATS, stream_report, verify_file
from integrations.reviews.models import AccessReview


class Command(BaseCommand):
    help = (
        "Write the evidence report of an access review (scope, dates, who opened and closed it, "
        "every item's frozen access, decision, reviewer, time, comment and remediation) as CSV, "
        "JSON or printable HTML. With --verify, say whether a saved JSON form is unchanged: its "
        "SHA-256 against the review's JSON form now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--review", type=int, metavar="ID", required=True, help="The access review's id.")
        parser.add_argument("--format", choices=FORMATS, default="json", help="json (default), csv or html.")
        parser.add_argument("--output", metavar="FILE", help="Write here instead of standard output.")
        parser.add_argument("--verify", metavar="FILE.json", help="Check a saved JSON form instead of exporting.")

    def handle(self, *args, review, format="json", output=None, verify=None, **options):
        if not AccessReview.objects.filter(pk=review).exists():
            raise CommandError(f"No access review with id {review}.")
        if verify:
            try:
                unchanged, actual, expected = verify_file(review_id=review, path=verify)
            except OSError as error:
                raise CommandError(f"Cannot read {verify}: {error.strerror or error}.") from None
            if not unchanged:
                raise CommandError(
                    f"{verify} has CHANGED: its SHA-256 is {actual}, the evidence of access review "
                    f"{review} has {expected}."
                )
            self.stdout.write(f"{verify} is unchanged: SHA-256 {actual} is the evidence of access review {review}.")
            return
        # Bytes as they are made: the JSON form's digest is of exactly these bytes.
        pieces = stream_report(review_id=review, fmt=format)
        if output:
            with open(output, "wb") as handle:
                for piece in pieces:
                    handle.write(piece)
            return
        out = self.stdout._out
        binary = getattr(out, "buffer", None)
        out.flush()
        for piece in pieces:
            if binary is not None:
                binary.write(piece)
            else:
                out.write(piece.decode())
        (binary or out).flush()

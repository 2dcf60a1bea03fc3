import asyncio

from django.http import JsonResponse


async def hello(request, name):
    await asyncio.sleep(0)   # an async view really awaits
    return JsonResponse({'hello': name, 'path': request.path, 'script_name': request.META.get('SCRIPT_NAME'),
                         'method': request.method, 'async': True})
